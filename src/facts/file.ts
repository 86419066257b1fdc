/**
 * A facts file an operator saved (`liveupdate facts --json`) or another tool wrote (the probe's raw
 * output): read bounded, checked against src/facts/schema.json, every problem at file:line:col. Apart
 * from gather.ts so that what probes a host (the on-host agent) carries no YAML parser or validator.
 */
import { stat } from 'node:fs/promises';
import { LiveupdateError } from '../errors.js';
import { byPosition } from '../input/position.js';
import { readInputFile } from '../input/read.js';
import { schemaDiagnosticsWith } from '../input/schema.js';
import { validate as validateFacts } from '../input/validate-facts.cjs';
import { readYaml } from '../input/yaml.js';
import { parseProbeOutput } from './parse.js';
import { FACTS_FORMAT_VERSION, type HostFacts } from './types.js';

/** A saved `facts --json` file, checked enough that a plan made from it means something. */
export async function readFactsFile(file: string): Promise<HostFacts> {
  const text = readInputFile(file, 'facts file', 'FACTS_INVALID');
  // the probe's own output, as another tool ran it (e.g. an Ansible `script` task), is facts too
  if (text.trimStart().startsWith('@@ ')) {
    if (!text.includes('@@ end')) throw new LiveupdateError('FACTS_INVALID', `${file}: the probe output is cut off before its end marker`);
    return parseProbeOutput(text.replace(/\r\n/g, '\n'), (await stat(file)).mtime.toISOString());
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new LiveupdateError(
      'FACTS_INVALID',
      `${file}: not JSON (${(err as Error).message.replace(/\s+/g, ' ')}); save facts with 'liveupdate facts --json > FILE'`,
    );
  }
  const f = data as Partial<HostFacts>;
  if (typeof f !== 'object' || f === null || f.formatVersion !== FACTS_FORMAT_VERSION) {
    throw new LiveupdateError(
      'FACTS_INVALID',
      `${file}: formatVersion must be ${FACTS_FORMAT_VERSION}; save facts with 'liveupdate facts --json > FILE'`,
    );
  }
  if (!validateFacts(data)) {
    // read again as YAML (JSON is YAML) for positions: each problem as file:line:col: field: message, as in profiles
    const src = readYaml(file, text);
    const diagnostics = src.syntaxErrors.length ? src.syntaxErrors : byPosition(schemaDiagnosticsWith(validateFacts, src));
    throw new LiveupdateError(
      'FACTS_INVALID',
      `${file}: ${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'} in the facts file; nothing was done`,
      {
        diagnostics,
        hint: "save facts with 'liveupdate facts --json > FILE' (src/facts/schema.json is their schema)",
      },
    );
  }
  return f as HostFacts;
}

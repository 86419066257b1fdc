import { stat } from 'node:fs/promises';
import { LiveupdateError } from '../errors.js';
import { byPosition } from '../input/position.js';
import { readInputFile } from '../input/read.js';
import { schemaDiagnosticsWith } from '../input/schema.js';
import { validate as validateFacts } from '../input/validate-facts.cjs';
import { readYaml } from '../input/yaml.js';
import type { Host } from '../host/host.js';
import type { Profile } from '../profile/types.js';
import { parseProbeOutput } from './parse.js';
import { probeArgv } from './probe.js';
import { FACTS_FORMAT_VERSION, type HostFacts } from './types.js';

export interface ProbeTargets {
  qemu: string[];
  files: string[];
}

/** What the profile wants probed beyond the fixed set: its QEMU binaries and kexec files. */
export function probeTargets(profile: Profile | undefined): ProbeTargets {
  if (!profile) return { qemu: ['/usr/bin/qemu-system-x86_64'], files: [] };
  const qemu = [...new Set(profile.vms.map((v) => v.qemu.binary))];
  const files = [profile.kexec.kernel, ...(profile.kexec.initrd ? [profile.kexec.initrd] : [])];
  return { qemu, files };
}

/** What was probed to get these facts: probing it again gives facts to compare with them. */
export const probeTargetsOf = (f: HostFacts): ProbeTargets => ({ qemu: f.qemu.map((q) => q.binary), files: Object.keys(f.files) });

export function gatherFacts(host: Host, profile: Profile | undefined, now: () => Date = () => new Date()): Promise<HostFacts> {
  return probeFacts(host, probeTargets(profile), now);
}

export async function probeFacts(host: Host, t: ProbeTargets, now: () => Date = () => new Date()): Promise<HostFacts> {
  const r = await host.exec(probeArgv(t.qemu, t.files), { timeoutMs: 30_000 });
  if (r.exitCode !== 0 && !r.stdout.includes('@@ end')) {
    throw new LiveupdateError('HOST_COMMAND_FAILED', `the fact probe failed on ${host.name} (exit ${r.exitCode}): ${r.stderr.trim().split('\n')[0] ?? ''}`);
  }
  return parseProbeOutput(r.stdout, now().toISOString());
}

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
    throw new LiveupdateError('FACTS_INVALID', `${file}: not JSON (${(err as Error).message}); save facts with 'liveupdate facts --json > FILE'`);
  }
  const f = data as Partial<HostFacts>;
  if (typeof f !== 'object' || f === null || f.formatVersion !== FACTS_FORMAT_VERSION) {
    throw new LiveupdateError('FACTS_INVALID', `${file}: formatVersion must be ${FACTS_FORMAT_VERSION}; save facts with 'liveupdate facts --json > FILE'`);
  }
  if (!validateFacts(data)) {
    // read again as YAML (JSON is YAML) for positions: each problem as file:line:col: field: message, as in profiles
    const src = readYaml(file, text);
    const diagnostics = src.syntaxErrors.length ? src.syntaxErrors : byPosition(schemaDiagnosticsWith(validateFacts, src));
    throw new LiveupdateError('FACTS_INVALID', `${file}: ${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'} in the facts file; nothing was done`, {
      diagnostics,
      hint: "save facts with 'liveupdate facts --json > FILE' (src/facts/schema.json is their schema)",
    });
  }
  return f as HostFacts;
}

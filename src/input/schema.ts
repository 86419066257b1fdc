/** A compiled schema's errors (src/input/validate-*.cjs) as diagnostics an operator reads: file:line:col: field: message. */
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Diagnostic } from '../errors.js';
import { closest } from '../suggest.js';
import { fieldPath, type YamlSource } from './yaml.js';

/** A schema's errors as positioned diagnostics, one per field and message (profiles, inventories). */
export function schemaDiagnosticsWith(validate: ValidateFunction, src: YamlSource, refusedEnum: Record<string, string> = {}): Diagnostic[] {
  if (validate(src.data)) return [];
  // a document liveupdate wrote (a plan, a saved plan, a report) given where an input file goes: one message, not a field list
  const kind = (src.data as { type?: unknown } | null)?.type;
  if (
    typeof kind === 'string' &&
    (validate.errors ?? []).some((e) => e.instancePath === '' && (e.keyword === 'additionalProperties' || e.keyword === 'required'))
  )
    return [
      {
        where: src.locate(['type']),
        field: 'type',
        message: `this is a "${kind}" document, liveupdate's own output, not this kind of input file${kind === 'plan' || kind === 'saved-plan' ? ' (a saved plan runs with run --plan FILE)' : ''}`,
      },
    ];
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const e of pickErrors(validate.errors ?? [])) {
    const path = pointerToPath(e.instancePath);
    let message: string;
    let at = path;
    if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      message = `missing required field '${missing}'`;
    } else if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      at = [...path, extra];
      // (a field kept only to say why it is refused, `not: {}`, is not one to offer)
      const props = (e.parentSchema as { properties?: Record<string, { not?: unknown }> } | undefined)?.properties ?? {};
      const fields = Object.keys(props).filter((k) => props[k]?.not === undefined);
      const meant = closest(extra, fields);
      message = `unknown field '${extra}'${meant ? ` (did you mean '${meant}'?)` : fields.length ? ` (fields here: ${fields.join(', ')})` : ''}`;
    } else if (e.keyword === 'enum' && typeof e.data === 'string' && refusedEnum[e.data]) {
      message = `${e.data} is not supported: ${refusedEnum[e.data]}`;
    } else {
      const hint = hintOf(e);
      message = hint ?? e.message ?? 'is invalid';
    }
    const field = fieldPath(at);
    const key = `${field}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ where: src.locate(at, { key: e.keyword === 'additionalProperties' }), field: field || '(top level)', message });
  }
  return out;
}

/**
 * anyOf/const noise hides the one message that matters: keep the anyOf's own hint, and drop an
 * anyOf without one inside a value whose own anyOf says what it must be (`serial: [x]`: the list's hint).
 */
function pickErrors(errors: ErrorObject[]): ErrorObject[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const hinted = errors.filter((e) => e.keyword === 'anyOf' && hintOf(e));
  const saidAbove = (e: ErrorObject): boolean =>
    !hintOf(e) && hinted.some((h) => h.instancePath !== e.instancePath && e.instancePath.startsWith(`${h.instancePath}/`));
  return errors.filter((e) => (e.keyword === 'anyOf' || !anyOfPaths.has(e.instancePath)) && !saidAbove(e));
}

function pointerToPath(pointer: string): Array<string | number> {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));
}

/** What the schema says a value must be (its `description`, which editors show on hover too), where it says it. */
function hintOf(e: ErrorObject): string | undefined {
  return (e.parentSchema as { description?: string } | undefined)?.description;
}

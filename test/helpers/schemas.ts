/** The published JSON Schemas (schemas/*.schema.json) as assertions on real output. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { ROOT } from './paths.js';

// strict, as a third party's Ajv would read them
const ajv = new Ajv({ allErrors: true, strict: true });
const compiled = new Map<string, ValidateFunction>();

export type Published = 'plan' | 'saved-plan' | 'document' | 'events';

export function schemaValidator(name: Published): ValidateFunction {
  let v = compiled.get(name);
  if (!v) compiled.set(name, (v = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'schemas', `${name}.schema.json`), 'utf8')) as object)));
  return v;
}

export function assertMatchesSchema(name: Published, doc: unknown, what = JSON.stringify(doc).slice(0, 200)): void {
  const v = schemaValidator(name);
  assert.ok(v(doc), `${what} does not match schemas/${name}.schema.json: ${ajv.errorsText(v.errors)}`);
}

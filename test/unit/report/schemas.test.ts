// The published JSON Schemas (schemas/, from scripts/schemas.ts): generated from the code's types,
// and what the code writes validates against them. Real outputs: the golden plans, a saved plan, and
// every kind of line the reporter writes itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { generateSchemas } from '../../../scripts/schemas.js';
import { LiveupdateError } from '../../../src/errors.js';
import type { Plan } from '../../../src/plan/types.js';
import { savePlan } from '../../../src/plan/saved.js';
import { makeReporter } from '../../../src/report/style.js';
import { capturedStreams } from '../../helpers/run-cli.js';
import { fixture, ROOT } from '../../helpers/paths.js';
import { assertMatchesSchema, schemaValidator } from '../../helpers/schemas.js';

test('the committed schemas are what the types generate now (npm run schemas after changing a type)', { timeout: 120_000 }, () => {
  for (const { file, text } of generateSchemas())
    assert.equal(readFileSync(join(ROOT, file), 'utf8'), text, `${file} is stale: run npm run schemas`);
});

test('every golden plan, as plan --json writes it, is a valid plan document; a saved plan of it is a valid saved plan', () => {
  const files = readdirSync(join(ROOT, 'test/fixtures/plans')).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 8);
  for (const f of files) {
    const p = JSON.parse(readFileSync(fixture('plans', f), 'utf8')) as Plan;
    assertMatchesSchema('plan', { type: 'plan', ...p }, f);
    assertMatchesSchema(
      'saved-plan',
      JSON.parse(JSON.stringify(savePlan(p, p, 'all', '/p.yaml', 'f'.repeat(64), new Date(0)))),
      `saved ${f}`,
    );
  }
  assert.equal(schemaValidator('plan')({ type: 'plan', formatVersion: 1 }), false, 'and the schema can refuse');
});

test("the reporter's own lines (format, warning, document result, error, BUG) are valid event lines", () => {
  const io = capturedStreams();
  const o = makeReporter('json', io.stdout, io.stderr);
  o.event({ type: 'step-start', at: 1, id: 'suspend/stop/vm', phase: 'suspend', vm: 'vm', blackout: true, marks: { blackoutStart: true } });
  o.warn({ where: 'p.yaml:1:1', field: 'vms', message: 'w' });
  o.result('', { type: 'uninstall', host: 'h', removed: ['/var/lib/liveupdate/agent'], kept: [] });
  o.error(new LiveupdateError('USAGE', 'bad', { hint: 'h' }));
  o.error(new Error('a bug'));
  const lines = io
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string });
  assert.deepEqual(
    lines.map((l) => l.type),
    ['format', 'step-start', 'warning', 'result', 'error', 'error'],
  );
  for (const l of lines) assertMatchesSchema('events', l);
  assert.equal(schemaValidator('events')({ type: 'step-start' }), false, 'and the schema can refuse');
});

test('every schema, published or read (profile, inventory, facts), compiles under a strict Ajv, all under one $id base', () => {
  const files = [
    ...readdirSync(join(ROOT, 'schemas')).map((f) => `schemas/${f}`),
    'src/profile/schema.json',
    'src/fleet/schema.json',
    'src/facts/schema.json',
  ];
  for (const f of files) {
    const schema = JSON.parse(readFileSync(join(ROOT, f), 'utf8')) as { $id?: string };
    assert.match(schema.$id ?? '', /^https:\/\/liveupdate\.dev\/schema\/[a-z-]+-v1\.json$/, `${f}: $id`);
    assert.doesNotThrow(() => new Ajv({ strict: true, allErrors: true }).compile(schema), f);
  }
});

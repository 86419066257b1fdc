// Hostile input, property-based (fast-check, pure logic in-process): the shipped profiles, an
// inventory and a facts file, each with one value replaced by a generated hostile one (or a field
// removed), go through the real readers and the planner. Whatever the input, the answer is an
// accepted value or problems that each name a place (file:line:col) and a field; never an exception
// that is not a LiveupdateError (which the CLI would print as a bug), and no plan from a profile the
// readers refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseDocument, isScalar, visit, type Document } from 'yaml';
import { LiveupdateError } from '../../../src/errors.js';
import { readFactsFile } from '../../../src/facts/file.js';
import { parseInventory } from '../../../src/fleet/inventory.js';
import { makePlan } from '../../../src/plan/planner.js';
import { parseProfile } from '../../../src/profile/load.js';
import { ROOT } from '../../helpers/paths.js';
import { tempDir } from '../../helpers/temp.js';

const RUNS = 300;
const dir = tempDir('/tmp/lu-hostile-prop-');

/** Values an attacker, a typo or another tool might leave in a field. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1e308,
    -0,
    2 ** 53 + 1,
    18446744073709551616,
    NaN,
    Infinity,
    true,
    false,
    null,
    '',
    ' ',
    '..',
    '.',
    '/',
    '/etc',
    '/mnt/../etc',
    '-S',
    '--incoming',
    'a;reboot',
    '$(reboot)',
    '`id`',
    'x,server=on',
    '0s',
    '1P',
    '5E',
    '1e400',
    '-5M',
    '0x40000000',
    'auto',
    '\u0000',
    '\u202e',
    'é',
    '999.1.1.1',
    '*',
    'a'.repeat(5000),
  ),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
);

/** Every scalar's path in a YAML document (map keys and sequence indexes). */
function scalarPaths(doc: Document): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  visit(doc, {
    Scalar(_key, node, path) {
      const p: Array<string | number> = [];
      for (let i = 1; i < path.length; i++) {
        const parent = path[i - 1] as { items?: unknown[] };
        const child = path[i] as { key?: { value?: unknown } };
        if (child && typeof child === 'object' && 'key' in child && isScalar(child.key)) p.push(String(child.key.value));
        else if (Array.isArray(parent?.items)) p.push(parent.items.indexOf(child));
      }
      const parent = path[path.length - 1] as { key?: unknown; value?: unknown; items?: unknown[] };
      if (parent && 'value' in parent && parent.value === node) out.push(p);
      else if (Array.isArray(parent?.items)) out.push([...p, parent.items.indexOf(node)]);
    },
  });
  return out;
}

/** One edit of `text`: a scalar replaced by `value`, or (when `drop`) its field removed. */
function edit(text: string, pick: number, value: unknown, drop: boolean): string {
  const doc = parseDocument(text);
  const paths = scalarPaths(doc);
  const path = paths[pick % paths.length]!;
  if (drop) doc.deleteIn(path);
  else doc.setIn(path, value);
  return doc.toString();
}

function assertPlaced(problems: Array<{ where?: string; field?: string; message: string }>, file: string, what: string): void {
  assert.ok(problems.length > 0, what);
  for (const p of problems) {
    assert.match(p.where ?? '', new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+$`), `${what}: ${JSON.stringify(p)}`);
    assert.ok(p.message.length > 0, what);
  }
}

const editArb = fc.record({ pick: fc.nat(), value: hostile, drop: fc.boolean() });

for (const [name, factsName] of [
  ['seed-pkernfs', 'seed-host'],
  ['pmem-stock', 'pmem-host'],
  ['luo', 'luo-host'],
  ['lab', 'lab'],
] as const) {
  test(`profile ${name}.yaml with one hostile value: refused at file:line:col, or planned; never a crash`, async () => {
    const text = readFileSync(join(ROOT, 'profiles', `${name}.yaml`), 'utf8');
    const facts = await readFactsFile(join(ROOT, 'profiles', 'facts', `${factsName}.json`));
    let refused = 0;
    fc.assert(
      fc.property(editArb, ({ pick, value, drop }) => {
        const file = `${dir}/${name}.yaml`;
        const edited = edit(text, pick, value, drop);
        const r = parseProfile(file, edited);
        if (!r.value) {
          refused++;
          return assertPlaced(r.errors, file, edited);
        }
        try {
          makePlan({ profile: r.value, facts, phases: 'all', locate: r.locate });
        } catch (e) {
          // the planner may refuse what this host cannot do, as a LiveupdateError with a message
          assert.ok(e instanceof LiveupdateError, `the planner threw ${String(e)} for:\n${edited}`);
        }
      }),
      { numRuns: RUNS },
    );
    // the generator is hostile enough that most edits are refused (a test that always accepted would say nothing)
    assert.ok(refused > RUNS / 3, `${refused} of ${RUNS} refused`);
  });
}

test('inventory with one hostile value: refused at file:line:col, or read; never a crash', () => {
  const text =
    'version: 1\ndefaults: {profile: p.yaml, user: root, port: 22}\ngroups:\n  rack1: {port: 2222}\nhosts:\n  - {name: a, address: 10.0.0.1, groups: [rack1]}\n  - {name: b, address: hv-b.example.net}\nrollout: {serial: [1, "20%"], concurrency: 2, maxFailPercentage: 0, connectRate: 5, healthGate: {command: [/bin/true], timeout: 30s}}\n';
  assert.deepEqual(parseInventory('inv.yaml', text).errors, [], 'the unedited inventory is fine');
  let refused = 0;
  fc.assert(
    fc.property(editArb, ({ pick, value, drop }) => {
      const edited = edit(text, pick, value, drop);
      const r = parseInventory('inv.yaml', edited);
      if (r.errors.length) {
        refused++;
        assertPlaced(r.errors, 'inv.yaml', edited);
      } else assert.ok(r.value, edited);
    }),
    { numRuns: RUNS },
  );
  assert.ok(refused > RUNS / 3, `${refused} of ${RUNS} refused`);
});

test('facts file with one hostile value: refused with a message (file:line:col for the schema), or read; never a crash', async () => {
  const text = readFileSync(join(ROOT, 'profiles/facts/seed-host.json'), 'utf8');
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(editArb, async ({ pick, value, drop }) => {
      const file = join(dir, 'facts.json');
      const doc = parseDocument(text);
      const path = scalarPaths(doc)[pick % scalarPaths(doc).length]!;
      const json = JSON.parse(text) as Record<string, unknown>;
      let at: Record<string, unknown> = json;
      for (const k of path.slice(0, -1)) at = at[k as string] as Record<string, unknown>;
      if (drop) delete at[path.at(-1) as string];
      else at[path.at(-1) as string] = value;
      writeFileSync(file, JSON.stringify(json, null, 2));
      try {
        await readFactsFile(file);
      } catch (e) {
        assert.ok(e instanceof LiveupdateError, `readFactsFile threw ${String(e)} for ${JSON.stringify(path)} = ${JSON.stringify(value)}`);
        refused++;
        if (e.diagnostics.length) assertPlaced(e.diagnostics, file, `${JSON.stringify(path)} = ${JSON.stringify(value)}`);
        else assert.match(e.message, new RegExp(`^${file}: `));
      }
    }),
    { numRuns: RUNS },
  );
  assert.ok(refused > RUNS / 4, `${refused} of ${RUNS} refused`);
});

test('size is not only bytes: aliases that multiply a list past the values liveupdate reads are refused at once, whatever the list and however many uses', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2600, max: 6000 }), fc.integer({ min: 96, max: 99 }), (words, uses) => {
      let vms = `vms:\n  - {name: vm0, memory: 16M, qemu: {args: &w [${Array.from({ length: words }, () => '-nodefaults').join(', ')}]}}\n`;
      for (let i = 1; i < uses; i++) vms += `  - {name: vm${i}, memory: 16M, qemu: {args: *w}}\n`;
      const r = parseProfile(
        'b.yaml',
        `version: 1\nhost: {name: h}\npersistence: {backend: pmem, size: 4G, offset: 1G}\nkexec: {kernel: /boot/vmlinuz}\n${vms}`,
      );
      assert.equal(r.value, undefined);
      assert.match(JSON.stringify(r.errors), /b\.yaml:1:1.*holds more than 250000 values once its YAML aliases are expanded/);
    }),
    { numRuns: 10 },
  );
});

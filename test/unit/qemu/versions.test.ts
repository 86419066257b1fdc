// Pure logic: which QEMU may restore a VM another QEMU saved, and machine types (no QEMU runs here;
// test/lab/luo.test.ts moves a VM from QEMU 7.2 to 10.0 for real).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isVersionedMachine, judgeUpgrade, parseMachineHelp, resolveMachine, TESTED_PAIRS } from '../../../src/qemu/versions.js';

// lines of Debian 12's `qemu-system-x86_64 -machine help` (7.2)
const HELP = `Supported machines are:
microvm              microvm (i386)
pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)
pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)
pc-i440fx-7.1        Standard PC (i440FX + PIIX, 1996)
q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)
pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)
isapc                ISA-only PC
none                 empty machine`;

test('-machine help: every type and what each alias names', () => {
  const { machines, aliases } = parseMachineHelp(HELP);
  assert.deepEqual(machines, ['microvm', 'pc', 'pc-i440fx-7.2', 'pc-i440fx-7.1', 'q35', 'pc-q35-7.2', 'isapc', 'none']);
  assert.deepEqual(aliases, { pc: 'pc-i440fx-7.2', q35: 'pc-q35-7.2' });
  assert.equal(resolveMachine('q35', aliases), 'pc-q35-7.2');
  assert.equal(resolveMachine('pc-i440fx-7.1', aliases), 'pc-i440fx-7.1', 'a versioned type is kept');
  assert.equal(resolveMachine('q35', undefined), 'q35', 'unknown aliases: as written');
  assert.deepEqual([isVersionedMachine('pc-q35-10.0'), isVersionedMachine('q35'), isVersionedMachine('microvm')], [true, false, false]);
});

const judge = (from: string, to: string, machine = 'pc-i440fx-7.2', acknowledged: string[] = [], machines?: string[]) =>
  judgeUpgrade({ from: { version: from, machine }, to: { version: to, binary: '/opt/q/qemu', machines }, acknowledged });

test('the same QEMU, and a stable update within a series, restore', () => {
  assert.deepEqual(judge('7.2.22', '7.2.22'), { ok: true, kind: 'same', why: 'the same QEMU 7.2.22' });
  const r = judge('7.2.19', '7.2.22', 'microvm');
  assert.equal(r.ok && r.kind, 'series', 'within 7.2 even an unversioned type keeps its device model');
});

test('a tested pair on a versioned type restores, and says which test proves it', () => {
  const r = judge('7.2.22', '10.0.2');
  assert.ok(r.ok && r.kind === 'tested');
  assert.match(r.why, /7\.2 -> 10\.0 on pc-i440fx-7\.2, a tested pair: test\/lab\/luo\.test\.ts/);
  assert.ok(
    TESTED_PAIRS.every((p) => /^test\/lab\/.*test\/integration\//.test(p.proof)),
    'every tested pair names its lab and its integration tests',
  );
});

test('refused: a downgrade, an unversioned type across versions, a type the new QEMU lacks, an untested pair', () => {
  const down = judge('10.0.2', '7.2.22');
  assert.ok(!down.ok && /a downgrade: QEMU 7\.2\.22 does not load state saved by the newer 10\.0\.2/.test(down.why));
  const alias = judge('7.2.22', '10.0.2', 'q35');
  assert.ok(!alias.ok && /machine type q35 is not versioned/.test(alias.why));
  const gone = judge('7.2.22', '10.0.2', 'pc-i440fx-2.0', [], ['pc-i440fx-10.0', 'pc-i440fx-7.2']);
  assert.ok(!gone.ok && /has no machine type pc-i440fx-2\.0/.test(gone.why));
  const untested = judge('7.2.22', '11.1.0');
  assert.ok(!untested.ok);
  assert.match(
    untested.why,
    /QEMU 7\.2 -> 11\.1 is not a pair liveupdate has seen work \(tested: 7\.2 -> 10\.0, 10\.0 -> 11\.1\); to try it anyway add '7\.2 -> 11\.1' to migration\.acceptUntestedQemu/,
  );
  // a downgrade is named as such even when the older QEMU also lacks the newer type
  const downGone = judge('11.1.3', '10.0.2', 'pc-i440fx-11.1', [], ['pc-i440fx-10.0']);
  assert.ok(!downGone.ok && /^a downgrade/.test(downGone.why));
});

test('an untested pair the profile acknowledges restores, and only that pair', () => {
  const r = judge('7.2.22', '11.1.0', 'pc-i440fx-7.2', ['7.2 -> 11.1']);
  assert.ok(r.ok && r.kind === 'acknowledged');
  assert.equal(judge('7.2.22', '11.0.0', 'pc-i440fx-7.2', ['7.2 -> 11.1']).ok, false);
  // the acknowledgement never lifts a downgrade or an unversioned type
  assert.equal(judge('11.1.0', '7.2.22', 'pc-i440fx-7.2', ['11.1 -> 7.2']).ok, false);
  assert.equal(judge('7.2.22', '11.1.0', 'q35', ['7.2 -> 11.1']).ok, false);
});

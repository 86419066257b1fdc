// The blackout's split from an event stream (pure logic): a synthetic run of one VM, with the times
// of each step chosen so that every part of the split is known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blackoutBreakdown, type EventMarks, type ExecEvent } from '../../../src/exec/events.js';
import type { Phase } from '../../../src/plan/types.js';

/** [id, phase, vm?, marks, start, end] -> the step's start and end events */
function run(steps: Array<[string, Phase, string | undefined, EventMarks | undefined, number, number]>): ExecEvent[] {
  return steps.flatMap(([id, phase, vm, marks, start, end]): ExecEvent[] => {
    const ref = { id, phase, blackout: true, ...(vm ? { vm } : {}), ...(marks ? { marks } : {}) };
    return [
      { type: 'step-start', ...ref, at: start },
      { type: 'step-end', ...ref, at: end, ms: end - start, result: 'ok' },
    ];
  });
}

const events = run([
  ['suspend/stop/a', 'suspend', 'a', { blackoutStart: true }, 1000, 1040],
  ['suspend/save/a', 'suspend', 'a', { saveState: true }, 1045, 1245],
  ['suspend/quit/a', 'suspend', 'a', undefined, 1250, 1300],
  ['kexec/umount', 'kexec', undefined, undefined, 1305, 1400],
  ['kexec/kexec-exec', 'kexec', undefined, { pointOfNoReturn: true }, 1405, 1500],
  ['kexec/verify-boot', 'kexec', undefined, { provesBoot: true }, 20_000, 21_405],
  ['resume/mount-dax', 'resume', undefined, undefined, 21_410, 21_700],
  ['resume/restart/a', 'resume', 'a', { restore: 'start' }, 21_705, 24_705],
  ['resume/load/a', 'resume', 'a', { restore: 'load' }, 24_710, 24_850],
  ['resume/cont/a', 'resume', 'a', { blackoutEnd: true }, 24_855, 24_870],
]);

test("the split: save, kexec to restore start (the boot proven, then the host's own work after it), restore, and the rest", () => {
  const b = blackoutBreakdown(events, 'a');
  assert.deepEqual(b, {
    windowMs: 23_870,
    qemuSaveMs: 200,
    kexecToRestoreMs: 20_300,
    kexecMs: 20_000,
    bootToRestoreMs: 300,
    qemuRestoreMs: 3140,
    // stop 40, quit 50, umount 95 and the gaps before the jump (5 each), cont and the gaps after the restore
    orchestratorMs: 230,
  });
  assert.equal(b.qemuSaveMs + b.kexecToRestoreMs + b.qemuRestoreMs + b.orchestratorMs, b.windowMs);
});

test('a run that did not reach the restore has no split; one whose restore began is split at its first restore step', () => {
  // the run stopped after the jump (the new boot proven, nothing resumed yet)
  assert.equal(
    blackoutBreakdown(
      events.filter((e) => e.phase !== 'resume'),
      'a',
    ),
    undefined,
  );
  // a run whose restore had begun: the split starts the restore at its first restore step
  assert.equal(
    blackoutBreakdown(
      events.filter((e) => !e.id.startsWith('resume/restart')),
      'a',
    )?.kexecToRestoreMs,
    24_710 - 1405,
  );
  assert.equal(blackoutBreakdown(events, 'b'), undefined);
});

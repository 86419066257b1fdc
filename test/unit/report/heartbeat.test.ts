// Pure logic with a clock and a timer of the test's own (no real waiting): the heartbeat of long steps in plain mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExecEvent } from '../../../src/exec/events.js';
import type { Plan } from '../../../src/plan/types.js';
import { withHeartbeat } from '../../../src/report/heartbeat.js';

test('a step running past 10 s gets a line every 15 s saying how long and what it waits for; a short one gets none; the timer stops with the last step', () => {
  let t = 0;
  let tick: (() => void) | undefined;
  let cancelled = 0;
  const lines: string[] = [];
  const passed: ExecEvent[] = [];
  const plan = { steps: [{ id: 'kexec/verify-boot', description: 'wait for the host; prove a new boot' }] } as unknown as Plan;
  const p = withHeartbeat({ emit: (e) => passed.push(e) }, plan, (l) => lines.push(l), {
    now: () => t,
    schedule: (fn) => {
      tick = fn;
      return () => cancelled++;
    },
  });
  const ref = { phase: 'kexec' as const, blackout: true };
  p.emit({ type: 'step-start', id: 'kexec/sync', at: 0, ...ref });
  t = 2000;
  tick!();
  p.emit({ type: 'step-end', id: 'kexec/sync', at: 2000, ms: 2000, result: 'ok', ...ref });
  assert.equal(cancelled, 1, 'no step running: the timer stops');
  p.emit({ type: 'step-start', id: 'kexec/verify-boot', at: 2000, ...ref });
  for (t = 2000; t <= 47_000; t += 1000) tick!();
  assert.deepEqual(
    lines.map((l) => l.slice(13).trim()),
    [
      '… kexec/verify-boot still running (10 s): wait for the host; prove a new boot',
      '… kexec/verify-boot still running (25 s): wait for the host; prove a new boot',
      '… kexec/verify-boot still running (40 s): wait for the host; prove a new boot',
    ],
  );
  p.emit({ type: 'step-end', id: 'kexec/verify-boot', at: t, ms: t - 2000, result: 'ok', ...ref });
  assert.equal(cancelled, 2);
  assert.equal(passed.length, 4, 'every event reaches the view beneath');
});

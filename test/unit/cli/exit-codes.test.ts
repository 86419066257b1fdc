// Pure: each exit code means one thing (src/errors.ts EXIT), for a failed run and for an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT, exitFor } from '../../../src/errors.js';
import { failedExit } from '../../../src/cli/commands/execute.js';

test('a failed run: 1 when nothing that changes the host finished (or the guard abort put the VMs back), 3 when it stopped part-way, 130 interrupted', () => {
  const failed = [{ code: 'STEP_FAILED' }];
  assert.equal(failedExit({ failures: failed, changed: false }), EXIT.error);
  assert.equal(failedExit({ failures: failed, changed: true }), EXIT.stopped);
  assert.equal(failedExit({ failures: failed, changed: true, aborted: { ok: true } }), EXIT.error);
  assert.equal(failedExit({ failures: failed, changed: true, aborted: { ok: false } }), EXIT.stopped);
  // an older agent does not say: taken as changed, so status is what the operator is sent to
  assert.equal(failedExit({ failures: failed }), EXIT.stopped);
  assert.equal(failedExit({ failures: [{ code: 'INTERRUPTED' }], changed: true }), EXIT.interrupted);
});

test('an error: usage 64, an agent gone part-way 3, anything else 1; no two meanings share a code', () => {
  assert.equal(exitFor('USAGE'), 64);
  assert.equal(exitFor('AGENT_GONE'), 3);
  assert.equal(exitFor('PLAN_INVALID'), 1);
  const codes = Object.values(EXIT);
  assert.equal(new Set(codes).size, codes.length);
  assert.deepEqual(EXIT, { ok: 0, error: 1, pending: 2, stopped: 3, detached: 4, usage: 64, bug: 70, interrupted: 130 });
});

// The per-host run lock on a real file system, with real processes for "alive" and "gone".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock, lockState } from '../../../src/exec/lock.js';
import { LiveupdateError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/temp.js';

const owner = (runId: string, bootId = 'boot-a') => ({ runId, who: 'ops@cn1', bootId, command: 'run' });

test('a second run is refused while the first holds the lock, and is told who holds it', () => {
  const file = join(tempDir('/tmp/lu-lock-'), 'h.journal.lock');
  const first = acquireLock(file, owner('run-1'));
  assert.throws(
    () => acquireLock(file, owner('run-2')),
    (e: unknown) =>
      e instanceof LiveupdateError && e.code === 'HOST_BUSY' && /run run-1 \(run\) asked by ops@cn1 at .*pid \d+/.test(e.message),
  );
  assert.equal(lockState(file, 'boot-a').state, 'held');
  first.release();
  assert.equal(existsSync(file), false);
  acquireLock(file, owner('run-2')).release();
});

test('the folder of the lock is made when it is not there yet (the first run on a host)', () => {
  const file = join(tempDir('/tmp/lu-lock-'), 'journal', 'h.journal.lock');
  acquireLock(file, owner('run-1')).release();
});

test('a lock whose process is gone is stale and said so; one of an earlier boot too', () => {
  const file = join(tempDir('/tmp/lu-lock-'), 'h.journal.lock');
  const dead = spawnSync('true').pid; // a real pid, already gone
  acquireLock(file, { ...owner('run-1'), pid: dead });
  assert.match(
    lockState(file, 'boot-a').state === 'stale' ? (lockState(file, 'boot-a') as { why: string }).why : '',
    new RegExp(`process ${dead} is gone`),
  );
  const second = acquireLock(file, owner('run-2'));
  assert.equal(second.replaced?.owner.runId, 'run-1');
  assert.match(second.replaced.why, /is gone/);
  // the holder is alive, but the host has booted since (a kexec ends every process of the old kernel)
  const st = lockState(file, 'boot-b');
  assert.equal(st.state, 'stale');
  assert.match((st as { why: string }).why, /earlier boot \(boot-a\)/);
  const third = acquireLock(file, owner('run-3', 'boot-b'));
  assert.equal(third.replaced?.owner.runId, 'run-2');
  third.release();
});

test('a live holder in another process keeps the lock; once it is killed the lock is stale', async () => {
  const file = join(tempDir('/tmp/lu-lock-'), 'h.journal.lock');
  const child = spawn('sleep', ['30']);
  try {
    acquireLock(file, { ...owner('run-1'), pid: child.pid! });
    assert.throws(() => acquireLock(file, owner('run-2')), /another live update holds this host/);
  } finally {
    child.kill('SIGKILL');
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(lockState(file, 'boot-a').state, 'stale');
});

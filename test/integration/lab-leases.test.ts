// Who owns a lab host (src/lab/leases.ts): the sweep that stops what an earlier run left behind.
// TEST DOUBLE: `sleep` processes stand in for lab QEMUs here (the sweep decides from the owner record
// and the processes' start times, not from what the process runs); the lab suite's
// test/lab/hygiene.test.ts does it with a real lab host and a SIGKILLed owner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { claimLabDir, ownLabHost, processStart, sweepStaleLabHosts } from '../../src/lab/leases.js';
import { tempDir } from '../helpers/temp.js';

async function started(p: ChildProcess): Promise<number> {
  for (let i = 0; i < 100 && processStart(p.pid!) === undefined; i++) await sleep(10);
  return p.pid!;
}

/** A process that has exited (its pid and start time, as an owner record would keep them). */
async function deadProcess(): Promise<{ pid: number; start: string }> {
  const p = spawn('sleep', ['30']);
  const pid = await started(p);
  const start = processStart(pid)!;
  p.kill('SIGKILL');
  await new Promise((r) => p.once('exit', r));
  return { pid, start };
}

test('sweep: a lab whose owner is gone is stopped and its folder removed; live, kept and claimed ones stay', async () => {
  const vms = tempDir('/var/tmp/lu-leases-');
  const qemus: ChildProcess[] = [];
  const fakeQemu = async (): Promise<{ pid: number; start: string; proc: ChildProcess }> => {
    const proc = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    qemus.push(proc);
    const pid = await started(proc);
    return { pid, start: processStart(pid)!, proc };
  };
  try {
    const gone = await deadProcess();
    const write = (name: string, o: object): string => {
      const dir = join(vms, name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'owner.json'), JSON.stringify(o));
      return dir;
    };
    const leaked = await fakeQemu();
    const leakedDir = write('leaked-1', {
      qemuPid: leaked.pid,
      qemuStart: leaked.start,
      ownerPid: gone.pid,
      ownerStart: gone.start,
      keep: false,
    });
    const kept = await fakeQemu();
    const keptDir = write('kept-1', { qemuPid: kept.pid, qemuStart: kept.start, ownerPid: gone.pid, ownerStart: gone.start, keep: true });
    const mine = await fakeQemu();
    const mineDir = join(vms, 'mine-1');
    mkdirSync(mineDir);
    ownLabHost(mineDir, mine.proc, false);
    const claimedDir = join(vms, 'claimed-1');
    mkdirSync(claimedDir);
    claimLabDir(claimedDir); // a boot of this process in progress: no QEMU yet
    const deadDir = write('dead-1', { qemuPid: gone.pid, qemuStart: gone.start, ownerPid: gone.pid, ownerStart: gone.start, keep: true });
    mkdirSync(join(vms, 'unowned-1')); // a boot that died before it wrote anything

    const said = sweepStaleLabHosts(vms);
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(
      said[0]!,
      new RegExp(`^stopped lab host leaked-1 \\(QEMU pid ${leaked.pid}\\), left running by pid ${gone.pid} which is gone$`),
    );
    await new Promise((r) => (leaked.proc.exitCode !== null || leaked.proc.signalCode !== null ? r(null) : leaked.proc.once('exit', r)));
    assert.equal(leaked.proc.signalCode, 'SIGKILL');
    assert.deepEqual([leakedDir, keptDir, mineDir, claimedDir, deadDir, join(vms, 'unowned-1')].map(existsSync), [
      false,
      true,
      true,
      true,
      false,
      false,
    ]);
    assert.equal(processStart(kept.pid), kept.start, 'a kept lab (demo --keep) runs on');
    assert.equal(processStart(mine.pid), mine.start, "this process's own lab runs on");
    assert.deepEqual(sweepStaleLabHosts(vms), [], 'nothing left to sweep');
  } finally {
    for (const q of qemus) q.kill('SIGKILL');
    rmSync(vms, { recursive: true, force: true });
  }
});

test('sweep: a missing vms folder is nothing to do', () => {
  assert.deepEqual(sweepStaleLabHosts('/var/tmp/lu-no-such-folder'), []);
});

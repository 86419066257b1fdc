// Real QEMU (TCG) on this machine, real QMP over unix sockets: the plan's own VM steps suspend
// and restore counter guests whose RAM is a file. Only the facts are edited (see vm-harness.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { runSteps } from '../../src/exec/engine.js';
import { blackouts, type ExecEvent } from '../../src/exec/events.js';
import { harness } from '../helpers/vm-harness.js';

const T = { timeout: 180_000 };

async function run(h: Awaited<ReturnType<typeof harness>>, steps: Parameters<typeof runSteps>[0], events: ExecEvent[] = []): Promise<void> {
  const r = await runSteps(steps, h.env, (e) => events.push(e));
  assert.ok(r.ok, r.failures.map((f) => `${f.step.id}: ${f.error.message}`).join('\n'));
}

async function continuesAcrossRestart(n: number): Promise<void> {
  const h = await harness({ vms: n });
  try {
    await run(h, h.startSteps);
    assert.equal(h.qemuPids().length, n, 'one QEMU per VM is running');
    await sleep(1500);
    for (const vm of h.names) assert.ok((await h.counterLive(vm)) > 0n, `${vm} counts`);

    const events: ExecEvent[] = [];
    await run(h, h.suspendSteps, events);
    const atStop = new Map(h.names.map((vm) => [vm, h.counterInRamFile(vm)]));
    for (const vm of h.names) assert.ok(atStop.get(vm)! > 0n);

    // every QEMU process of this test is gone; only the RAM files and state remain
    for (const pid of h.qemuPids()) process.kill(pid, 'SIGKILL');
    await sleep(300);
    assert.deepEqual(h.qemuPids(), []);

    // restore up to (not including) cont: the counter is exactly where it stopped
    const restore = h.names.flatMap((vm) => h.restoreSteps(vm));
    const untilCont = restore.filter((s) => !/\/(cont|verify-running)\//.test(s.id));
    await run(h, untilCont, events);
    for (const vm of h.names) assert.equal(await h.counterLive(vm), atStop.get(vm), `${vm} paused at the value it stopped at`);

    await run(
      h,
      restore.filter((s) => /\/(cont|verify-running)\//.test(s.id)),
      events,
    );
    await sleep(1000);
    for (const vm of h.names) assert.ok((await h.counterLive(vm)) > atStop.get(vm)!, `${vm} continued counting`);

    const b = blackouts(events);
    assert.equal(b.length, n);
    for (const x of b) {
      assert.ok(x.ms > 0 && x.ms < 60_000, `${x.vm} blackout ${x.ms} ms`);
      assert.equal(typeof x.qemuDowntimeMs, 'number', 'QEMU reported its downtime');
    }
  } finally {
    await h.cleanup();
  }
}

test('one VM continues counting after suspend, kill, restore', T, () => continuesAcrossRestart(1));
test('three VMs suspended and restored concurrently all continue', T, () => continuesAcrossRestart(3));

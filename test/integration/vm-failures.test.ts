// Real QEMU failure cases: each must end with a clear error and the VM running or resumable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runSteps } from '../../src/exec/engine.js';
import type { Step } from '../../src/plan/types.js';
import { harness, type Harness } from '../helpers/vm-harness.js';

const T = { timeout: 180_000 };

async function ok(h: Harness, steps: Step[]): Promise<void> {
  const r = await runSteps(steps, h.env, () => undefined);
  assert.ok(r.ok, r.failures.map((f) => `${f.step.id}: ${f.error.message}`).join('\n'));
}

async function fails(h: Harness, steps: Step[]): Promise<{ id: string; code: string; message: string }> {
  const r = await runSteps(steps, h.env, () => undefined);
  assert.equal(r.ok, false, 'must fail');
  const f = r.failures[0]!;
  return { id: f.step.id, code: f.error.code, message: f.error.message };
}

async function status(h: Harness, vm: string): Promise<string> {
  const c = await h.env.qmp.get(h.env.vars[`qmp.${vm}`]!);
  return (await c.execute<{ status: string }>('query-status')).status;
}

test('QMP socket missing: a clear error, nothing started, nothing written', T, async () => {
  const h = await harness({ vms: 1 });
  try {
    const f = await fails(h, h.suspendSteps);
    assert.equal(f.code, 'QMP_CLOSED');
    assert.match(f.message, /no such socket \(is the VM running\?\)/);
    assert.equal(f.id, `suspend/caps/${h.names[0]}`);
    assert.deepEqual(h.qemuPids(), []);
    assert.equal(existsSync(join(h.dir, 'state')), false);
  } finally {
    await h.cleanup();
  }
});

test('migration fails (state cannot be written): the VM is resumed on its old QEMU', T, async () => {
  const h = await harness({ vms: 1 });
  const vm = h.names[0]!;
  try {
    await ok(h, h.startSteps);
    const steps = h.suspendSteps.map((s) =>
      s.kind === 'qmp' && s.command === 'migrate' ? { ...s, arguments: { uri: 'exec:cat > /nonexistent-dir/state' } } : s,
    );
    const f = await fails(h, steps);
    assert.equal(f.code, 'MIGRATION_FAILED');
    assert.match(f.message, /was resumed on its old QEMU and is running/);
    assert.equal(await status(h, vm), 'running');
    const a = await h.counterLive(vm);
    await sleep(500);
    assert.ok((await h.counterLive(vm)) > a, 'still counting');
  } finally {
    await h.cleanup();
  }
});

test('QEMU exits during migrate: the error says so and that guest RAM is untouched', T, async () => {
  const h = await harness({ vms: 1 });
  try {
    await ok(h, h.startSteps);
    const slow = h.suspendSteps.map((s) =>
      s.kind === 'qmp' && s.command === 'migrate' ? { ...s, arguments: { uri: `exec:sleep 3; cat > ${h.dir}/state/x` } } : s,
    );
    const killer = (async () => {
      await sleep(1500);
      const pids = h.qemuPids();
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      return pids.length;
    })();
    const f = await fails(h, slow);
    assert.equal(await killer, 1, 'the QEMU was killed mid-migrate');
    assert.equal(f.code, 'QEMU_FAILED', `${f.id}: ${f.message}`);
    assert.match(f.message, /QEMU of .* exited during migrate: its device state was not saved; guest RAM is untouched/);
    assert.ok(existsSync(join(h.dir, 'ram', `${h.names[0]}.ram`)), 'the RAM file is still there');
  } finally {
    await h.cleanup();
  }
});

test('truncated state file: restore refuses before starting QEMU, and works once the file is whole', T, async () => {
  const h = await harness({ vms: 1 });
  const vm = h.names[0]!;
  try {
    await ok(h, h.startSteps);
    await ok(h, h.suspendSteps);
    const stopped = h.counterInRamFile(vm);
    const state = join(h.dir, 'state', `${vm}.state`);
    const whole = readFileSync(state);
    truncateSync(state, Math.floor(whole.length / 2));
    const f = await fails(h, h.restoreSteps(vm));
    assert.equal(f.id, `resume/verify-state/${vm}`);
    assert.match(
      f.message,
      new RegExp(`is ${Math.floor(whole.length / 2)} bytes but ${whole.length} were saved \\(truncated\\?\\).*stays resumable`),
    );
    assert.deepEqual(h.qemuPids(), [], 'no QEMU was started on a broken state');
    writeFileSync(state, whole);
    await ok(h, h.restoreSteps(vm));
    await sleep(500);
    assert.ok((await h.counterLive(vm)) > stopped);
  } finally {
    await h.cleanup();
  }
});

test('truncated state with no record of its size: QEMU rejects it, the error says the load failed', T, async () => {
  const h = await harness({ vms: 1 });
  const vm = h.names[0]!;
  try {
    await ok(h, h.startSteps);
    await ok(h, h.suspendSteps);
    const state = join(h.dir, 'state', `${vm}.state`);
    truncateSync(state, 4096);
    h.env.outcomes.clear(); // as if the journal were lost
    const f = await fails(h, h.restoreSteps(vm));
    assert.equal(f.id, `resume/load/${vm}`);
    assert.match(f.message, /migrate-incoming of .* failed|exited during migrate-incoming/);
  } finally {
    await h.cleanup();
  }
});

test('a QEMU other than the planned one on restore is stopped before it loads anything, and the right one works', T, async () => {
  const h = await harness({ vms: 1, wrapQemu: true });
  const vm = h.names[0]!;
  const bin = join(h.dir, 'qemu');
  try {
    await ok(h, h.startSteps);
    await ok(h, h.suspendSteps);
    // the plan restores with another QEMU version than the one now at the path (as after a package
    // change between the plan and the resume): the new QEMU must be stopped before any state is loaded
    const steps = h.restoreSteps(vm).map((s) => (s.kind === 'qemu-start' ? { ...s, expectVersion: '9.9.0' } : s));
    const f = await fails(h, steps);
    assert.equal(f.id, `resume/restart/${vm}`);
    assert.match(
      f.message,
      /is QEMU 7\.2\.[0-9]+ but the plan restores with QEMU 9\.9\.0 \(the binary changed since the plan\); not loading its state \(the new QEMU was stopped, the state is untouched\)/,
    );
    await sleep(300);
    assert.deepEqual(h.qemuPids(), [], 'the mismatched QEMU was stopped');
    // the right version, on another machine type than the VM ran: stopped the same way
    const wrongType = h.restoreSteps(vm).map((s) => (s.kind === 'qemu-start' ? { ...s, expectMachine: 'pc-q35-7.2' } : s));
    const g = await fails(h, wrongType);
    assert.match(g.message, /started machine type pc-i440fx-7\.2 but the VM runs pc-q35-7\.2; not loading its state/);
    await sleep(300);
    assert.deepEqual(h.qemuPids(), [], 'the mismatched QEMU was stopped');
    assert.ok(existsSync(bin));
    await ok(h, h.restoreSteps(vm));
    assert.equal(await status(h, vm), 'running');
  } finally {
    await h.cleanup();
  }
});

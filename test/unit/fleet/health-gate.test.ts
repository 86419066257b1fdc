// The fleet's health gate against a host double (TEST DOUBLE: an in-memory Host whose command fails
// a given number of times, then exits 0; no SSH, no clock tricks). The gate over a real sshd with a
// login shell slowed on purpose is in test/integration/fleet-sshd.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExecOptions, ExecResult, Host } from '../../../src/host/host.js';
import { commandHealthGate } from '../../../src/fleet/run.js';
import { parseInventory, type FleetHost, type Inventory } from '../../../src/fleet/inventory.js';

function inventory(gate: string): Inventory {
  const r = parseInventory('/i.yaml', `version: 1\nhosts: [{name: hv1, profile: p}]\nrollout: {healthGate: ${gate}}\n`);
  assert.deepEqual(r.errors, []);
  return r.value!;
}

/** A host whose gate command exits 1 `failures` times, then 0; it records the timeout of every check. */
function hostDouble(failures: number): Host & { timeouts: Array<number | undefined>; closed: boolean } {
  let left = failures;
  const h = {
    name: 'double',
    local: false,
    timeouts: [] as Array<number | undefined>,
    closed: false,
    exec: (_argv: string[], opts?: ExecOptions): Promise<ExecResult> => {
      h.timeouts.push(opts?.timeoutMs);
      return Promise.resolve({ stdout: '', stderr: left > 0 ? 'not yet' : '', exitCode: left-- > 0 ? 1 : 0 });
    },
    connectUnix: () => Promise.reject(new Error('unused')),
    put: () => Promise.reject(new Error('unused')),
    fetch: () => Promise.reject(new Error('unused')),
    close: () => {
      h.closed = true;
      return Promise.resolve();
    },
  };
  return h;
}

test('health gate: every check gets its own timeout, never what is left of the window', async () => {
  const inv = inventory('{command: [check], timeout: 2s, interval: 10ms, checkTimeout: 45s}');
  const host = hostDouble(3);
  const gate = commandHealthGate(inv, () => host)!;
  assert.equal(await gate(inv.hosts[0] as FleetHost), undefined, 'passed on the fourth check');
  assert.deepEqual(host.timeouts, [45_000, 45_000, 45_000, 45_000]);
  assert.ok(host.closed);
});

test('health gate: the default check timeout is 30 s, and a gate that keeps failing says why and for how long', async () => {
  const inv = inventory('{command: [sh, -c, exit 1], timeout: 50ms, interval: 10ms}');
  const host = hostDouble(Number.POSITIVE_INFINITY);
  const why = await commandHealthGate(inv, () => host)!(inv.hosts[0] as FleetHost);
  assert.equal(why, '`sh -c exit 1` exited 1: not yet (for 0.05 s)');
  assert.ok(host.timeouts.length >= 1);
  assert.ok(
    host.timeouts.every((t) => t === 30_000),
    String(host.timeouts),
  );
  assert.ok(host.closed);
});

test('health gate: none in the inventory, none run', () => {
  const r = parseInventory('/i.yaml', 'version: 1\nhosts: [{name: hv1, profile: p}]\n');
  assert.equal(
    commandHealthGate(r.value!, () => hostDouble(0)),
    undefined,
  );
});

// Two real lab hosts (Debian 12 under QEMU TCG, pmem, a nested counter VM each) updated by one
// `liveupdate fleet run --agent` with serial 1: each host runs its plan with the on-host agent (a real
// kexec, the resume at boot by the host itself), one after the other. The fleet over SSH step by
// step is covered against real sshd in test/integration/fleet-sshd.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SshHost, parseTarget } from '../../src/host/ssh.js';
import { LAB_PROFILE, type LabHost } from '../../src/lab/lab.js';
import { useLab } from '../helpers/lab.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('/var/tmp/lu-lab-fleet-');
// two lab hosts resumed from one snapshot: the same boot_id until each one's kexec, each its own port
const hosts = [useLab('fleet1'), useLab('fleet2')];
const labs = (): LabHost[] => hosts.map((h) => h.lab);

async function bootId(l: LabHost): Promise<string> {
  const ssh = new SshHost(parseTarget(l.target), { identity: l.identity, knownHosts: l.knownHosts });
  try {
    return (await ssh.exec(['cat', '/proc/sys/kernel/random/boot_id'], { timeoutMs: 60_000 })).stdout.trim();
  } finally {
    await ssh.close();
  }
}

test(
  'fleet run --agent, serial 1: two lab hosts, one after the other, each a real kexec with its VM kept',
  { timeout: 1_500_000 },
  async () => {
    const before1 = await Promise.all(labs().map(bootId));
    const inv = join(dir, 'inventory.yaml');
    writeFileSync(
      inv,
      [
        'version: 1',
        `defaults: {profile: ${LAB_PROFILE}, hostname: lab, identity: ${labs()[0]!.identity}}`,
        'hosts:',
        ...labs().map((l, i) => `  - {name: lab${i + 1}, address: 127.0.0.1, port: ${l.port}, knownHosts: ${l.knownHosts}}`),
        'rollout:',
        '  serial: 1',
        // the gate: the host's VM is alive again
        `  healthGate: {command: [sh, -c, 'kill -0 "$(cat /run/liveupdate/vms/counter/qemu.pid)"'], timeout: 60s}`,
        '',
      ].join('\n'),
    );
    const r = await runCli(['fleet', 'run', '--agent', '--yes', '--force', '--inventory', inv, '--fleet-dir', join(dir, 'runs'), '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout.slice(-4000));
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; host?: string; ok?: boolean });
    const order = events.filter((e) => e.type === 'host-start' || e.type === 'host-end').map((e) => `${e.type}:${e.host}`);
    assert.deepEqual(order, ['host-start:lab1', 'host-end:lab1', 'host-start:lab2', 'host-end:lab2'], 'serial 1: one host at a time');
    assert.deepEqual(
      events.filter((e) => e.type === 'gate').map((e) => [e.host, e.ok]),
      [
        ['lab1', true],
        ['lab2', true],
      ],
    );
    const result = events.at(-1) as unknown as {
      ok: boolean;
      hosts: Array<{ host: string; state: string; phaseReached: string; blackouts: Array<{ vm: string; ms: number }> }>;
    };
    assert.equal(result.ok, true);
    for (const h of result.hosts) {
      assert.equal(h.state, 'ok');
      assert.equal(h.phaseReached, 'resume');
      assert.equal(h.blackouts[0]?.vm, 'counter');
    }
    const after1 = await Promise.all(labs().map(bootId));
    assert.notEqual(after1[0], before1[0], 'lab1 rebooted into a new kernel');
    assert.notEqual(after1[1], before1[1], 'lab2 rebooted into a new kernel');
  },
);

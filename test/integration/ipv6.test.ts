// A host on IPv6: a real OpenSSH sshd listening on ::1 only, reached by `facts --host` in the
// bracketed form OpenSSH writes, and by `fleet plan` from an inventory address "::1" (kept as an
// address and a port all the way to the SSH layer, never a `user@::1:port` string parsed back).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/run-cli.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { profilePath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

let sshd: Sshd;
const dir = tempDir('/var/tmp/lu-ipv6-');
const knownHosts = join(dir, 'known_hosts');
const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

before(async () => {
  sshd = await startSshd({ address: '::1' });
  writeFileSync(knownHosts, sshd.knownHostsLine);
});

after(async () => {
  await sshd?.stop();
});

test('facts --host root@[::1]:PORT: probed over SSH on IPv6 loopback (this machine, so its boot_id)', { timeout: 120_000 }, async () => {
  const r = await runCli([
    'facts',
    '--host',
    `root@[::1]:${sshd.port}`,
    '--identity',
    sshd.clientKey,
    '--known-hosts',
    knownHosts,
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { bootId: string }).bootId, bootId);
});

test(
  'fleet plan with an inventory address "::1": the host is reached on IPv6 and planned; its target reads root@[::1]:PORT',
  { timeout: 120_000 },
  async () => {
    const inv = join(dir, 'inventory.yaml');
    // lab.yaml cannot be applied to this machine as it is (no carve-out): the plan's refusal names this
    // machine's facts, which only an SSH connection to ::1 can have brought
    writeFileSync(
      inv,
      `version: 1\nhosts:\n  - {name: v6, address: "::1", port: ${sshd.port}, user: root, profile: ${profilePath('lab.yaml')}, hostname: ${hostname()}, identity: ${sshd.clientKey}, knownHosts: ${knownHosts}}\n`,
    );
    const r = await runCli(['fleet', 'plan', '--inventory', inv, '--fleet-dir', join(dir, 'runs'), '--json']);
    const doc = JSON.parse(r.stdout) as { hosts: Array<{ host: string; target: string; ok: boolean; error?: string; bootId?: string }> };
    const row = doc.hosts[0]!;
    assert.equal(row.target, `root@[::1]:${sshd.port}`);
    if (row.ok) assert.equal(row.bootId, bootId);
    else
      assert.match(
        row.error!,
        new RegExp(`cannot be applied to ${hostname()}: `),
        'a refusal from the facts of this machine, not of the target',
      );
  },
);

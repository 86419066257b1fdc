// A non-root login with sudo (--become), through the real CLI against a real OpenSSH sshd on
// loopback, real sudo with a sudoers rule, and real QEMU: a VMM-only update of this machine's VM
// (test/helpers/cli-host.ts: its facts say a loop-mounted ext4 is pmem, the one double). The test
// adds two local users and a sudoers file, and removes them after.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliHost, counter, prepare, type CliHost } from '../helpers/cli-host.js';
import { runCli } from '../helpers/run-cli.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/temp.js';

const OPERATOR = 'lu-test-op';
const NO_SUDO = 'lu-test-nosudo';
const SUDOERS = '/etc/sudoers.d/lu-test-op';
let sshd: Sshd;
let dir: string;

before(
  async () => {
    for (const u of [OPERATOR, NO_SUDO]) {
      if (spawnSync('id', [u]).status !== 0) execFileSync('useradd', ['-M', '-d', '/tmp', '-s', '/bin/sh', u]);
      // '*': no password, and not locked ('!'), which sshd without PAM would refuse
      execFileSync('usermod', ['-p', '*', u]);
    }
    writeFileSync(SUDOERS, `${OPERATOR} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
    execFileSync('visudo', ['-c', '-q', '-f', SUDOERS]);
    sshd = await startSshd();
    // sshd reads authorized_keys as the login user
    chmodSync(sshd.dir, 0o755);
    chmodSync(join(sshd.dir, 'authorized_keys'), 0o644);
    dir = tempDir('/var/tmp/lu-become-');
    writeFileSync(join(dir, 'known_hosts'), sshd.knownHostsLine);
  },
  { timeout: 60_000 },
);

after(async () => {
  await sshd?.stop();
  rmSync(SUDOERS, { force: true });
  for (const u of [OPERATOR, NO_SUDO]) spawnSync('userdel', [u]);
  rmSync(dir, { recursive: true, force: true });
});

const over = (h: CliHost, cmd: string, user: string, become: boolean, via: 'ssh' | 'agent' = 'ssh') =>
  runCli([
    cmd,
    '--profile',
    h.profile,
    '--facts',
    h.facts,
    '--vmm-only',
    '--via',
    via,
    '--host',
    `${user}@127.0.0.1:${sshd.port}`,
    '--identity',
    sshd.clientKey,
    '--known-hosts',
    join(dir, 'known_hosts'),
    '-F',
    '/dev/null',
    '--journal-dir',
    join(h.dir, 'journal'),
    ...(become ? ['--become'] : []),
  ]);

for (const via of ['ssh', 'agent'] as const) {
  test(
    `--become --via ${via}: a non-root login runs the whole VMM-only update through sudo -n; the VM continues`,
    { timeout: 600_000 },
    async () => {
      const h = await cliHost({ vms: 1 });
      try {
        await prepare(h);
        // as the login user alone, root's QMP socket (or the agent's folder) is out of reach: the update cannot start
        const plain = await over(h, 'suspend', OPERATOR, false, via);
        assert.equal(plain.code, 1, plain.stdout);
        assert.equal((await counter(h, h.names[0]!)).status, 'running', 'nothing paused');
        for (const cmd of ['suspend', 'kexec', 'resume']) {
          const r = await over(h, cmd, OPERATOR, true, via);
          assert.equal(r.code, 0, `${cmd}: ${r.stderr}${r.stdout}`);
        }
        const stopped = h.counterInRamFile(h.names[0]!);
        const c = await counter(h, h.names[0]!);
        assert.equal(c.status, 'running');
        assert.ok(c.value >= stopped, `continued: ${stopped} at the save, ${c.value} now`);
      } finally {
        h.cleanup();
      }
    },
  );
}

test('--become for a user sudo refuses: a clear error naming the sudoers rule, nothing ran', { timeout: 120_000 }, async () => {
  const h = await cliHost({ vms: 1 });
  try {
    const r = await over(h, 'suspend', NO_SUDO, true);
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stderr,
      new RegExp(`${NO_SUDO}@127\\.0\\.0\\.1:\\d+: --become: sudo -n refused to run as root: sudo: a password is required; nothing ran`),
    );
    assert.match(
      r.stderr,
      new RegExp(
        `hint: let ${NO_SUDO} run commands as root without a password, e\\.g\\. /etc/sudoers\\.d/liveupdate: ${NO_SUDO} ALL=\\(root\\) NOPASSWD: ALL`,
      ),
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  } finally {
    h.cleanup();
  }
});

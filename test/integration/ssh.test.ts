// Real OpenSSH sshd on loopback (test/helpers/sshd.ts); real QEMU for QMP over SSH.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { SshHost, parseTarget } from '../../src/host/ssh.js';
import { QmpClient } from '../../src/qemu/qmp.js';
import { LiveupdateError } from '../../src/errors.js';
import { runSteps } from '../../src/exec/engine.js';
import { startFleetSim } from '../helpers/fleet-sim.js';
import { startSshd, type Sshd, realSsh } from '../helpers/sshd.js';
import { harness } from '../helpers/vm-harness.js';
import { tempDir } from '../helpers/temp.js';

let sshd: Sshd;
before(async () => {
  sshd = await startSshd();
});
after(async () => {
  await sshd.stop();
});

function host(opts: { known?: string; acceptNew?: boolean; identity?: string } = {}): { h: SshHost; knownHosts: string } {
  const knownHosts = join(sshd.dir, `known_hosts.${Math.random().toString(36).slice(2)}`);
  writeFileSync(knownHosts, opts.known ?? sshd.knownHostsLine);
  const h = new SshHost(parseTarget(`root@127.0.0.1:${sshd.port}`), {
    identity: opts.identity ?? sshd.clientKey,
    knownHosts,
    acceptNew: opts.acceptNew ?? false,
  });
  return { h, knownHosts };
}

const code = async (p: Promise<unknown>): Promise<{ code: string; message: string }> => {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof LiveupdateError, String(e));
    return { code: e.code, message: e.message };
  }
  assert.fail('expected a failure');
};

test('targets parse: user@host:port and [v6]:port', () => {
  assert.deepEqual(parseTarget('root@10.0.0.1:2222'), { user: 'root', host: '10.0.0.1', port: 2222 });
  assert.deepEqual(parseTarget('ops@[::1]:22'), { user: 'ops', host: '::1', port: 22 });
  assert.throws(() => parseTarget('root@host:99999'), /out of range/);
});

test('a known host key connects and runs argv', async () => {
  const { h } = host();
  try {
    const r = await h.exec(['echo', 'hello']);
    assert.deepEqual(r, { stdout: 'hello\n', stderr: '', exitCode: 0 });
    assert.equal((await h.exec(['sh', '-c', 'exit 3'])).exitCode, 3);
  } finally {
    await h.close();
  }
});

test('an unknown host key is refused with its fingerprint; --accept-new-host-key records it', async () => {
  const a = host({ known: '' });
  const e = await code(a.h.exec(['true']));
  assert.equal(e.code, 'HOST_KEY_REJECTED');
  assert.match(e.message, /host key ssh-ed25519 SHA256:[A-Za-z0-9+/]+ is not in .*known_hosts.*; refusing to connect/);
  await a.h.close();
  const b = host({ known: '', acceptNew: true });
  assert.equal((await b.h.exec(['true'])).exitCode, 0);
  assert.match(readFileSync(b.knownHosts, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `));
  await b.h.close();
  const c = new SshHost(parseTarget(`root@127.0.0.1:${sshd.port}`), { identity: sshd.clientKey, knownHosts: b.knownHosts });
  assert.equal((await c.exec(['true'])).exitCode, 0, 'the recorded key is trusted next time');
  await c.close();
});

test('a changed host key is refused even with accept-new', async () => {
  const other = 'AAAAC3NzaC1lZDI1NTE5AAAAIEc0dGhpc2lzbm90dGhla2V5YXRhbGxub3RyZWFsbHkx';
  const { h } = host({ known: `[127.0.0.1]:${sshd.port} ssh-ed25519 ${other}\n`, acceptNew: true });
  const e = await code(h.exec(['true']));
  assert.equal(e.code, 'HOST_KEY_REJECTED');
  assert.match(e.message, /HOST KEY CHANGED: presented ssh-ed25519 SHA256:.*has SHA256:.*man-in-the-middle/);
  await h.close();
});

test('a key the server does not accept is an authentication failure', async () => {
  const { h } = host({ identity: join(sshd.dir, 'host_key') });
  const e = await code(h.exec(['true']));
  assert.equal(e.code, 'HOST_AUTH_FAILED');
  assert.match(e.message, /authentication failed/);
  await h.close();
});

test('nothing listening is unreachable, not a hang', async () => {
  const h = new SshHost(parseTarget('root@127.0.0.1:1'), { identity: sshd.clientKey });
  const e = await code(h.exec(['true']));
  assert.equal(e.code, 'HOST_UNREACHABLE');
  assert.match(e.message, /connection refused/);
});

test('the connection dropping mid-command says the command may or may not have run', async () => {
  const { h } = host();
  try {
    await h.exec(['true']);
    const p = code(h.exec(['sleep', '20']));
    await sleep(500);
    sshd.dropConnections();
    const e = await p;
    assert.equal(e.code, 'HOST_UNREACHABLE');
    assert.match(e.message, /(dropped while running sleep; it may or may not have run|connection lost|closed)/);
    // the next command reconnects
    assert.equal((await h.exec(['echo', 'back'])).stdout, 'back\n');
  } finally {
    await h.close();
  }
});

test('property: every argv word reaches the host as one literal argument', async () => {
  const { h } = host();
  try {
    const word = fc
      .string({
        unit: fc.oneof(
          fc.constantFrom(' ', "'", '"', '$', '(', ')', ';', '`', '\\', '|', '&', '*', '\n', '\t', '~', '#', '!', '{', '}', '<', '>'),
          fc.string({ minLength: 1, maxLength: 1 }),
        ),
        maxLength: 12,
      })
      .filter((s) => !s.includes('\0'));
    await fc.assert(
      fc.asyncProperty(fc.array(word, { minLength: 1, maxLength: 5 }), async (words) => {
        const r = await h.exec(['printf', '%s\\0', ...words]);
        assert.equal(r.exitCode, 0, r.stderr);
        assert.deepEqual(r.stdout.split('\0').slice(0, -1), words);
      }),
      { numRuns: 40 },
    );
    const tricky = ['vm name', "it's", '$(touch /tmp/pwned)', 'a;b', '`id`'];
    const r = await h.exec(['printf', '%s\\0', ...tricky]);
    assert.deepEqual(r.stdout.split('\0').slice(0, -1), tricky);
  } finally {
    await h.close();
  }
});

test('one connection multiplexes more commands than MaxSessions allows at once', async () => {
  const { h } = host();
  try {
    const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => h.exec(['sh', '-c', 'sleep 0.2; echo $1', 'sh', String(i)])));
    assert.deepEqual(
      rs.map((r) => r.stdout.trim()),
      Array.from({ length: 30 }, (_, i) => String(i)),
    );
  } finally {
    await h.close();
  }
});

test('put and fetch carry bytes exactly', async () => {
  const { h } = host();
  try {
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256));
    const path = join(sshd.dir, 'sub dir', 'blob');
    await h.put(data, path, 0o600);
    assert.deepEqual(await h.fetch(path), data);
    assert.equal((await h.exec(['stat', '-c', '%a', path])).stdout.trim(), '600');
  } finally {
    await h.close();
  }
});

for (const fallback of [false, true]) {
  test(
    `QMP over SSH to a real QEMU (${fallback ? 'socat fallback, no streamlocal' : 'streamlocal forwarding'})`,
    { timeout: 60_000 },
    async () => {
      const server = fallback ? await startSshd({ extraConfig: 'AllowStreamLocalForwarding no' }) : sshd;
      const vm = await harness({ vms: 1, prefix: 'sq' });
      const known = join(server.dir, 'kh');
      writeFileSync(known, server.knownHostsLine);
      const h = new SshHost(parseTarget(`root@127.0.0.1:${server.port}`), { identity: server.clientKey, knownHosts: known });
      try {
        const r = await runSteps(vm.startSteps, vm.env, () => undefined);
        assert.ok(r.ok);
        await vm.env.qmp.closeAll();
        const c = await QmpClient.over(await h.connectUnix(vm.ctx.vms[0]!.spec.qmp), 'ssh');
        assert.equal((await c.execute<{ status: string }>('query-status')).status, 'running');
        await c.close();
        const missing = await code(h.connectUnix('/nonexistent.sock').then((s) => QmpClient.over(s, 'missing', 3000)));
        assert.match(missing.message, /missing/);
      } finally {
        await h.close();
        await vm.cleanup();
        if (fallback) await server.stop();
      }
    },
  );
}

// TEST DOUBLE server (the fleet simulator, an ssh2 server) that refuses exec requests; the client
// side is the real SshHost. A refusal is never retried: dropbear 2022.83 was seen to close a channel
// without confirming the exec after running the command, so the client cannot know it did not run.
test('a refused exec request is not tried again: the error says the command may or may not have run', async () => {
  const sim = await startFleetSim({ latencyMs: 1 });
  const h = new SshHost(parseTarget(`h1@127.0.0.1:${sim.port}`), { identity: sim.identity, knownHosts: sim.knownHosts });
  try {
    sim.faults.set('h1', { refuseExec: 1 });
    const e = await code(h.exec(['sim', 'phase', 'kexec']));
    assert.equal(e.code, 'HOST_UNREACHABLE');
    assert.match(
      e.message,
      /^h1@127\.0\.0\.1:[0-9]+: the server did not confirm that sim started \(Unable to exec\); it may or may not have run$/,
    );
    assert.equal(sim.refused.get('h1'), 1, 'asked once, not again');
    // the next command on the same connection runs
    assert.equal((await h.exec(['sim', 'phase', 'resume'])).stdout, 'resume done\n');
    assert.deepEqual(sim.commands.get('h1'), ['sim phase resume']);
  } finally {
    await h.close();
    await sim.close();
  }
});

// TEST DOUBLE server (the fleet simulator) announcing itself as dropbear or as OpenSSH; the client is
// the real SshHost. On dropbear, commands on one connection go one at a time (see SshHost.channel).
test('on a dropbear server commands go one at a time; on others up to maxChannels at once', async () => {
  for (const [ident, most] of [
    ['dropbear_2022.83', 1],
    ['OpenSSH_9.2p1', 8],
  ] as const) {
    const sim = await startFleetSim({ latencyMs: 100, ident });
    const h = new SshHost(parseTarget(`h1@127.0.0.1:${sim.port}`), { identity: sim.identity, knownHosts: sim.knownHosts });
    try {
      const rs = await Promise.all(Array.from({ length: 12 }, () => h.exec(['sim', 'phase', 'prepare'])));
      assert.ok(rs.every((r) => r.exitCode === 0));
      assert.equal(sim.maxRunning, most, ident);
    } finally {
      await h.close();
      await sim.close();
    }
  }
});

test(
  'an exit status that arrives with the exec confirmation is not lost (a quick command, a busy control node)',
  { timeout: 60_000 },
  async () => {
    // TEST DOUBLE server (test/helpers/fleet-sim.ts) answering in the same tick as it confirms the
    // exec: the client reads the confirmation, the exit status and the close in one chunk
    const sim = await startFleetSim({ latencyMs: 0 });
    try {
      const h = new SshHost(parseTarget(`h0001@127.0.0.1:${sim.port}`), { identity: sim.identity, knownHosts: sim.knownHosts });
      try {
        const results = await Promise.all(Array.from({ length: 40 }, () => h.exec(['sim', 'phase', 'prepare'])));
        assert.deepEqual([...new Set(results.map((r) => `${r.exitCode} ${r.stdout.trim()}`))], ['0 prepare done']);
        const failing = await h.exec(['sim', 'other']);
        assert.deepEqual([failing.exitCode, failing.stderr.trim()], [127, 'sim: unknown command sim other']);
      } finally {
        await h.close();
      }
    } finally {
      await sim.close();
    }
  },
);

test(
  'host keys as OpenSSH checks them, each case against the real ssh on the same known_hosts: the key type known is asked for first, names in any case, hashed entries; a wrong key refused by both',
  { timeout: 120_000 },
  async () => {
    // a server with two host keys, Ed25519 (which ssh2 would ask for first) and ECDSA
    const dir = tempDir('/var/tmp/lu-hostkeys-');
    execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', join(dir, 'ecdsa')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', join(dir, 'other')]);
    const two = await startSshd({ extraConfig: `HostKey ${join(dir, 'ecdsa')}` });
    try {
      const pub = (f: string): string =>
        readFileSync(join(dir, `${f}.pub`), 'utf8')
          .split(' ')
          .slice(0, 2)
          .join(' ');
      const cases: Array<[string, string, string, boolean]> = [
        ['known by its ECDSA key only', '127.0.0.1', `[127.0.0.1]:${two.port} ${pub('ecdsa')}\n`, true],
        ['a name in capitals, known_hosts in lower case', 'LOCALHOST', `[localhost]:${two.port} ${pub('ecdsa')}\n`, true],
        ['a hashed entry, the name in capitals', 'LocalHost', `[localhost]:${two.port} ${pub('ecdsa')}\n`, true],
        ['known by another ECDSA key: changed', '127.0.0.1', `[127.0.0.1]:${two.port} ${pub('other')}\n`, false],
      ];
      for (const [what, name, known, accepted] of cases) {
        const file = join(dir, `known_hosts.${cases.findIndex((c) => c[0] === what)}`);
        writeFileSync(file, known);
        if (what.startsWith('a hashed')) execFileSync('ssh-keygen', ['-q', '-H', '-f', file]);
        const real = realSsh({ port: two.port, key: two.clientKey, knownHosts: file, name });
        assert.equal(real.status === 0, accepted, `${what}: OpenSSH ${accepted ? 'accepts' : 'refuses'} (${real.stderr.trim()})`);
        const h = new SshHost(parseTarget(`root@${name}:${two.port}`), { identity: two.clientKey, knownHosts: file, acceptNew: false });
        try {
          const r = await h.exec(['true']).then(
            () => 'ok',
            (e: unknown) => (e instanceof LiveupdateError ? e.code : String(e)),
          );
          assert.equal(r, accepted ? 'ok' : 'HOST_KEY_REJECTED', `${what}: liveupdate as OpenSSH`);
        } finally {
          await h.close();
        }
      }
      // a host known by its ECDSA key only, whose server now offers only an Ed25519 key: with
      // --accept-new-host-key that is a change to review, not a new host (nothing is recorded)
      const one = await startSshd();
      try {
        const file = join(dir, 'known_hosts.other-type');
        writeFileSync(file, `[127.0.0.1]:${one.port} ${pub('ecdsa')}\n`);
        const h = new SshHost(parseTarget(`root@127.0.0.1:${one.port}`), { identity: one.clientKey, knownHosts: file, acceptNew: true });
        try {
          await assert.rejects(
            h.exec(['true']),
            /host key ssh-ed25519 SHA256:\S+ is not in .*known_hosts\.other-type, which knows this host by another key type \(ecdsa-sha2-nistp256\): a key of another type for a known host is a change to review, not a new host; refusing to connect \(--accept-new-host-key records only hosts not known at all\)/,
          );
        } finally {
          await h.close();
        }
        assert.equal(readFileSync(file, 'utf8'), `[127.0.0.1]:${one.port} ${pub('ecdsa')}\n`, 'nothing recorded');
      } finally {
        await one.stop();
      }
    } finally {
      await two.stop();
    }
  },
);

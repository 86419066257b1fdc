// OpenSSH's conventions through the real CLI against real OpenSSH sshd servers on loopback
// (test/helpers/sshd.ts) and a real ssh-agent: an ssh_config alias, ProxyJump through a second sshd,
// GlobalKnownHostsFile, an encrypted key served by the agent. No double.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { startSshd, type Sshd, realSsh } from '../helpers/sshd.js';
import { onTerminal } from '../helpers/terminal.js';
import { tempDir } from '../helpers/temp.js';
import { ROOT } from '../helpers/paths.js';

let target: Sshd;
let bastion: Sshd;
let closedBastion: Sshd;
let dir: string;
let agentSock: string;
let agentPid: number;

before(
  async () => {
    dir = tempDir('/var/tmp/lu-sshcfg-');
    target = await startSshd();
    bastion = await startSshd();
    closedBastion = await startSshd({ extraConfig: 'AllowTcpForwarding no' });
    // a passphrase-protected key the target accepts, loaded into a real ssh-agent
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse', '-f', join(dir, 'enc_key')]);
    appendFileSync(join(target.dir, 'authorized_keys'), readFileSync(join(dir, 'enc_key.pub')));
    agentSock = join(dir, 'agent.sock');
    const out = execFileSync('ssh-agent', ['-s', '-a', agentSock], { encoding: 'utf8' });
    agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1]);
    writeFileSync(join(dir, 'askpass'), "#!/bin/sh\necho 'correct horse'\n", { mode: 0o755 });
    const add = spawnSync('ssh-add', [join(dir, 'enc_key')], {
      env: { ...process.env, SSH_AUTH_SOCK: agentSock, SSH_ASKPASS: join(dir, 'askpass'), SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(add.status, 0, add.stderr);
    writeFileSync(join(dir, 'known_hosts'), target.knownHostsLine + bastion.knownHostsLine + closedBastion.knownHostsLine);
    writeFileSync(join(dir, 'global_known_hosts'), target.knownHostsLine);
    writeFileSync(join(dir, 'empty_known_hosts'), '');
    const host = (name: string, s: Sshd, extra = ''): string =>
      `Host ${name}\n  HostName 127.0.0.1\n  Port ${s.port}\n  User root\n  IdentityFile ${s.clientKey}\n${extra}`;
    writeFileSync(
      join(dir, 'ssh_config'),
      [
        host('hv1', target),
        host('bastion', bastion),
        host('closed-bastion', closedBastion),
        host('hv-behind', target, '  ProxyJump bastion\n'),
        host('hv-behind-closed', target, '  ProxyJump closed-bastion\n'),
        `Host hv-global\n  HostName 127.0.0.1\n  Port ${target.port}\n  User root\n  IdentityFile ${target.clientKey}\n  UserKnownHostsFile ${dir}/empty_known_hosts\n  GlobalKnownHostsFile ${dir}/global_known_hosts\n`,
        `Host hv-encrypted\n  HostName 127.0.0.1\n  Port ${target.port}\n  User root\n  IdentityFile ${dir}/enc_key\n  IdentitiesOnly yes\n`,
        host('hv-proxycmd', target, `  ProxyCommand sh -c 'echo %r@%h:%p > ${dir}/proxy-used; exec socat - TCP:%h:%p'\n`),
        host('hv-proxy-fails', target, `  ProxyCommand sh -c 'echo no route to the bastion >&2; exit 3'\n`),
        host('hv-bind', target, '  BindAddress 127.0.0.1\n  AddressFamily any\n'),
        `Host *\n  UserKnownHostsFile ${dir}/known_hosts\n  GlobalKnownHostsFile ${dir}/empty_known_hosts\n`,
      ].join(''),
    );
  },
  { timeout: 60_000 },
);

after(async () => {
  if (agentPid) process.kill(agentPid);
  for (const s of [target, bastion, closedBastion]) await s?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `liveupdate facts --host NAME -F ssh_config --json`; no ssh-agent unless `agent`. */
function facts(name: string, agent = false): Promise<CliResult> {
  const env = { ...process.env };
  delete env['SSH_AUTH_SOCK'];
  return runCli(['facts', '--host', name, '-F', join(dir, 'ssh_config'), '--json'], {
    env: agent ? { ...env, SSH_AUTH_SOCK: agentSock } : env,
  });
}

const reached = (r: CliResult): void => {
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { hostname: string }).hostname, hostname());
};

test(
  'an ssh_config Host alias: HostName, Port, User, IdentityFile and UserKnownHostsFile come from -F FILE',
  { timeout: 60_000 },
  async () => {
    reached(await facts('hv1'));
    const unknown = await runCli(['facts', '--host', 'hv1', '--json']);
    assert.notEqual(unknown.code, 0, 'without -F the alias is not known: ~/.ssh/config does not have it');
  },
);

test(
  '-v says each connection and each command run on the host, and how it ended; -vv adds the SSH transport; without -v, nothing',
  { timeout: 60_000 },
  async () => {
    const env = { ...process.env };
    delete env['SSH_AUTH_SOCK'];
    const run = (...v: string[]): Promise<CliResult> =>
      runCli(['facts', '--host', 'hv-behind', '-F', join(dir, 'ssh_config'), ...v], { env });
    const quiet = await run();
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /debug/);
    const v = await run('-v');
    assert.equal(v.code, 0, v.stderr);
    assert.match(
      v.stderr,
      new RegExp(
        `^debug1: root@127\\.0\\.0\\.1:${target.port}: connecting to 127\\.0\\.0\\.1:${target.port} through its ProxyJump as root$`,
        'm',
      ),
    );
    assert.match(v.stderr, /^debug1: root@127\.0\.0\.1:\d+: connected and authenticated$/m);
    assert.match(v.stderr, /^debug1: root@127\.0\.0\.1:\d+: env QEMU_N=\d+ .*sh -c /m, 'the probe, as it runs there');
    assert.match(v.stderr, /^debug1: root@127\.0\.0\.1:\d+: env exited 0 after \d+ ms$/m);
    assert.doesNotMatch(v.stderr, /^debug2:/m);
    const vv = await run('-vv');
    assert.equal(vv.code, 0, vv.stderr);
    assert.match(vv.stderr, /^debug2: root@127\.0\.0\.1:\d+: .*(Handshake|handshake|KEX|kex)/m, 'ssh2 says its key exchange');
    // --json: stdout stays one document
    const json = await run('-v', '--json');
    assert.equal((JSON.parse(json.stdout) as { type: string }).type, 'facts');
  },
);

test(
  "ProxyCommand: the connection is the command's stdin and stdout, its tokens expanded; one that fails is named with what it said; a setting liveupdate does not honour is refused at its line",
  { timeout: 60_000 },
  async () => {
    reached(await facts('hv-proxycmd'));
    assert.equal(readFileSync(join(dir, 'proxy-used'), 'utf8').trim(), `root@127.0.0.1:${target.port}`, 'through the command');
    const fails = await facts('hv-proxy-fails');
    assert.notEqual(fails.code, 0);
    assert.match(fails.stdout + fails.stderr, /ProxyCommand exited 3: no route to the bastion/);
    const bind = await runCli(['facts', '--host', 'hv-bind', '-F', join(dir, 'ssh_config')]);
    assert.equal(bind.code, 64, bind.stderr);
    assert.match(bind.stderr, new RegExp(`${dir}/ssh_config:\\d+: BindAddress 127\\.0\\.0\\.1: not supported by liveupdate's SSH`));
    assert.doesNotMatch(bind.stderr, /AddressFamily/, 'AddressFamily any changes nothing');
  },
);

test('ProxyJump: through a second real sshd; a bastion that refuses forwarding is named in the error', { timeout: 60_000 }, async () => {
  reached(await facts('hv-behind'));
  const closed = await facts('hv-behind-closed');
  assert.equal(closed.code, 1, closed.stdout);
  assert.match(
    closed.stdout + closed.stderr,
    new RegExp(`root@127\\.0\\.0\\.1:${closedBastion.port} \\(ProxyJump\\): cannot reach 127\\.0\\.0\\.1:${target.port} from there`),
  );
});

test(
  '-J and -o on the command line, as ssh takes them: before the files, so they win; a setting not honoured is refused, naming the flag',
  { timeout: 60_000 },
  async () => {
    const env = { ...process.env };
    delete env['SSH_AUTH_SOCK'];
    const run = (...flags: string[]): Promise<CliResult> =>
      runCli(['facts', '--host', 'hv1', '-F', join(dir, 'ssh_config'), '--json', ...flags], { env });
    reached(await run('-J', 'bastion'));
    const closed = await run('-J', 'closed-bastion');
    assert.equal(closed.code, 1, closed.stdout);
    assert.match(
      closed.stdout,
      new RegExp(`127\\.0\\.0\\.1:${closedBastion.port} \\(ProxyJump\\): cannot reach`),
      'the jump went through -J',
    );
    const port = await run('-o', 'Port=1');
    assert.equal(port.code, 1, 'the -o Port beats the file');
    assert.match(port.stdout, /127\.0\.0\.1:1/);
    const bind = await runCli(['facts', '--host', 'hv1', '-F', join(dir, 'ssh_config'), '-o', 'BindAddress=127.0.0.1']);
    assert.equal(bind.code, 64);
    assert.match(
      bind.stderr,
      /the command line \(-o BindAddress=127\.0\.0\.1\): BindAddress 127\.0\.0\.1: not supported by liveupdate's SSH/,
    );
  },
);

test(
  'fleet takes -F, -J and -o as ssh does, for every host of its inventory: through a bastion, a ProxyCommand, a setting not honoured refused',
  { timeout: 120_000 },
  async () => {
    const env = { ...process.env };
    delete env['SSH_AUTH_SOCK'];
    // one host, by address and port, probed over SSH (no facts file): the fleet's own SSH flags decide how it is reached
    const inv = join(dir, 'fleet.yaml');
    writeFileSync(
      inv,
      `version: 1\nhosts:\n  - {name: hv1, address: 127.0.0.1, port: ${target.port}, user: root, identity: ${target.clientKey}, knownHosts: ${dir}/known_hosts, hostname: ${hostname()}, profile: ${join(ROOT, 'profiles/seed-pkernfs.yaml')}}\nrollout: {serial: 1}\n`,
    );
    const plan = async (...flags: string[]): Promise<{ code: number | null; row: { ok: boolean; error?: string }; stderr: string }> => {
      const r = await runCli(['fleet', 'plan', '--inventory', inv, '--json', ...flags], { env });
      const doc = r.stdout ? (JSON.parse(r.stdout) as { hosts?: Array<{ ok: boolean; error?: string }> }) : {};
      return { code: r.code, row: doc.hosts?.[0] ?? { ok: false, error: r.stderr }, stderr: r.stderr };
    };
    // reached: the host was probed (its plan made, or refused by a rule of the plan, never by SSH)
    const probed = (row: { ok: boolean; error?: string }): void =>
      assert.ok(row.ok || /cannot be applied/.test(row.error ?? ''), JSON.stringify(row));
    probed((await plan('-F', join(dir, 'ssh_config'), '-J', 'bastion')).row);
    const closed = await plan('-F', join(dir, 'ssh_config'), '-J', 'closed-bastion');
    assert.match(
      closed.row.error ?? '',
      new RegExp(`127\\.0\\.0\\.1:${closedBastion.port} \\(ProxyJump\\): cannot reach`),
      'the jump went through -J',
    );
    rmSync(join(dir, 'fleet-proxy'), { force: true });
    probed((await plan('-o', `ProxyCommand=sh -c 'echo %h:%p > ${dir}/fleet-proxy; exec socat - TCP:%h:%p'`)).row);
    assert.equal(
      readFileSync(join(dir, 'fleet-proxy'), 'utf8').trim(),
      `127.0.0.1:${target.port}`,
      'the connection was the -o ProxyCommand',
    );
    const bind = await plan('-o', 'BindAddress=127.0.0.1');
    assert.match(
      bind.row.error ?? bind.stderr,
      /the command line \(-o BindAddress=127\.0\.0\.1\): BindAddress 127\.0\.0\.1: not supported by liveupdate's SSH/,
    );
  },
);

test(
  'GlobalKnownHostsFile is read (an empty user known_hosts): the key is known; the refusal names every file read',
  { timeout: 60_000 },
  async () => {
    reached(await facts('hv-global'));
    writeFileSync(join(dir, 'global_known_hosts'), '');
    try {
      const r = await facts('hv-global');
      assert.equal(r.code, 1);
      assert.match(r.stdout + r.stderr, /is not in .*empty_known_hosts or .*global_known_hosts; refusing to connect/);
    } finally {
      writeFileSync(join(dir, 'global_known_hosts'), target.knownHostsLine);
    }
  },
);

test(
  'an encrypted IdentityFile: ssh-agent signs with it; else its passphrase is asked on a terminal; without either, a clear error',
  { timeout: 60_000 },
  async () => {
    reached(await facts('hv-encrypted', true));
    const r = await facts('hv-encrypted');
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /enc_key: the key is encrypted with a passphrase, and there is no terminal to ask for it on/);
    assert.match(r.stdout + r.stderr, /load it into ssh-agent \(ssh-add .*enc_key\)/);

    const env = { ...process.env };
    delete env['SSH_AUTH_SOCK'];
    const args = ['facts', '--host', 'hv-encrypted', '-F', join(dir, 'ssh_config'), '--json'];
    const when = `Enter passphrase for key '${dir}/enc_key': `;
    const typed = await onTerminal(args, { when, type: 'correct horse' }, env);
    assert.equal(typed.code, 0, typed.out);
    assert.ok(
      typed.out.includes(`"hostname":"${hostname()}"`) || typed.out.includes(`"hostname": "${hostname()}"`),
      typed.out.slice(0, 300),
    );
    assert.ok(!typed.out.includes('correct horse'), 'the passphrase is not echoed');
    const wrong = await onTerminal(args, { when, type: 'wrong horse' }, env);
    assert.equal(wrong.code, 1, wrong.out);
    assert.match(wrong.out, /enc_key: wrong passphrase/);
  },
);

test(
  'a host certificate signed by a CA in known_hosts (@cert-authority) is accepted; one naming another host, or with critical options, is refused with why (the real ssh too)',
  { timeout: 60_000 },
  async () => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_ca')]);
    const ca = readFileSync(join(dir, 'host_ca.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    const certified = await startSshd({ hostCertificate: { ca: join(dir, 'host_ca'), principals: '127.0.0.1' } });
    const misnamed = await startSshd({ hostCertificate: { ca: join(dir, 'host_ca'), principals: 'hv9.example' } });
    const critical = await startSshd({
      hostCertificate: { ca: join(dir, 'host_ca'), principals: '127.0.0.1', options: ['critical:force-command=/bin/true'] },
    });
    try {
      // only the CA: neither host key is in the file
      const kh = join(dir, 'ca_known_hosts');
      writeFileSync(kh, `@cert-authority [127.0.0.1]:* ${ca}\n`);
      const via = (s: Sshd): Promise<CliResult> =>
        runCli([
          'facts',
          '--host',
          `root@127.0.0.1:${s.port}`,
          '--identity',
          s.clientKey,
          '--known-hosts',
          kh,
          '-F',
          '/dev/null',
          '--json',
        ]);
      reached(await via(certified));
      // OpenSSH's own verdict on the same known_hosts: the good certificate accepted, the others refused
      const ssh = (s: Sshd): number | null => realSsh({ port: s.port, key: s.clientKey, knownHosts: kh }).status;
      assert.deepEqual([ssh(certified), ssh(misnamed) === 0, ssh(critical) === 0], [0, false, false]);
      const crit = await via(critical);
      assert.equal(crit.code, 1, crit.stdout);
      assert.match(
        crit.stdout + crit.stderr,
        /certificate lu-test-host has critical options \(force-command\), which no host certificate may carry; refusing to connect/,
      );
      const r = await via(misnamed);
      assert.equal(r.code, 1, r.stdout);
      assert.match(
        r.stdout + r.stderr,
        /a @cert-authority there trusts this host but: certificate lu-test-host names hv9\.example, not 127\.0\.0\.1; refusing to connect/,
      );
      writeFileSync(kh, `@revoked * ${ca}\n@cert-authority [127.0.0.1]:* ${ca}\n`);
      const revoked = await via(certified);
      assert.equal(revoked.code, 1, 'a CA marked @revoked vouches for nothing');
      assert.match(revoked.stdout + revoked.stderr, /is not in .*ca_known_hosts/);
    } finally {
      await certified.stop();
      await misnamed.stop();
      await critical.stop();
    }
  },
);

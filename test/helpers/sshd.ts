/** A real OpenSSH sshd on loopback (127.0.0.1, or ::1) with its own host key, config and authorized key, for tests. */
import { execFileSync, spawnSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:net';
import { tempDir } from './temp.js';

export interface Sshd {
  /** the loopback address it listens on */
  address: '127.0.0.1' | '::1';
  port: number;
  /**
   * A second port on the same server where every command pays one more second of login-shell
   * start-up (ForceCommand sleeps 1 s, then runs the command in the same shell): a host whose root
   * rc files are slow. Commands there behave as on `port`, exit codes included.
   */
  slowPort: number;
  dir: string;
  clientKey: string;
  /** a known_hosts line for this server */
  knownHostsLine: string;
  proc: ChildProcess;
  /** kill the per-connection sshd processes (drops live connections, keeps listening) */
  dropConnections: () => void;
  stop: () => Promise<void>;
}

export async function freePort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, address, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/**
 * `hostCertificate`: the host key is certified by this CA key (ssh-keygen -s) for these principals, and sshd presents the certificate.
 * `ownMachine`: the server plays a machine of its own (the test double for several hosts on this one):
 * it runs in a mount namespace of its own where /etc/machine-id is another id, as a container's is;
 * mounts made on this machine after it starts are not seen by its sessions.
 */
export async function startSshd(
  opts: {
    extraConfig?: string;
    hostCertificate?: { ca: string; principals: string; validity?: string; options?: string[] };
    address?: '127.0.0.1' | '::1';
    ownMachine?: boolean;
  } = {},
): Promise<Sshd> {
  const address = opts.address ?? '127.0.0.1';
  const dir = tempDir('/var/tmp/lu-sshd-');
  mkdirSync('/run/sshd', { recursive: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  const cert = opts.hostCertificate;
  if (cert)
    execFileSync('ssh-keygen', [
      '-q',
      '-s',
      cert.ca,
      '-I',
      'lu-test-host',
      '-h',
      '-n',
      cert.principals,
      ...(cert.validity ? ['-V', cert.validity] : []),
      ...(cert.options ?? []).flatMap((o) => ['-O', o]),
      join(dir, 'host_key.pub'),
    ]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
  const port = await freePort(address);
  const slowPort = await freePort(address);
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      `Port ${slowPort}`,
      `ListenAddress ${address}`,
      `HostKey ${dir}/host_key`,
      cert ? `HostCertificate ${dir}/host_key-cert.pub` : '',
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      `PidFile ${dir}/sshd.pid`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'MaxSessions 10',
      'LogLevel ERROR',
      opts.extraConfig ?? '',
      // last: a Match block runs to the end of the file
      `Match LocalPort ${slowPort}`,
      '  ForceCommand sleep 1; eval "$SSH_ORIGINAL_COMMAND"',
    ].join('\n') + '\n',
  );
  const sshd = ['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')];
  let argv = sshd;
  if (opts.ownMachine) {
    writeFileSync(join(dir, 'machine-id'), randomBytes(16).toString('hex') + '\n');
    argv = [
      'unshare',
      '--mount',
      '--',
      'sh',
      '-c',
      'mount --bind "$1" /etc/machine-id && shift && exec "$@"',
      'sh',
      join(dir, 'machine-id'),
      ...sshd,
    ];
  }
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = connect(port, address, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (up) break;
    if (i > 100 || proc.exitCode !== null) throw new Error(`sshd did not start: ${err}`);
    await sleep(50);
  }
  const hostPub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(' ');
  return {
    address,
    port,
    slowPort,
    dir,
    clientKey: join(dir, 'client_key'),
    knownHostsLine: [port, slowPort].map((p) => `[${address}]:${p} ${hostPub[0]} ${hostPub[1]}\n`).join(''),
    proc,
    dropConnections: () => {
      try {
        execFileSync('pkill', ['-KILL', '-P', String(proc.pid)]);
      } catch {
        /* no live connection */
      }
    },
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The real OpenSSH client's verdict on a server, with only these known_hosts (no ssh_config, batch mode, strict checking): its exit status running `true` there. */
export function realSsh(o: { port: number; key: string; knownHosts: string; name?: string }): { status: number | null; stderr: string } {
  const r = spawnSync(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${o.knownHosts}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-i',
      o.key,
      '-p',
      String(o.port),
      `root@${o.name ?? '127.0.0.1'}`,
      'true',
    ],
    { encoding: 'utf8' },
  );
  return { status: r.status, stderr: r.stderr };
}

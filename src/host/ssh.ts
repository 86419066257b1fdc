import { execFile, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { readBounded, whyUnreadable } from '../bounded-read.js';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Duplex } from 'node:stream';
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { debug, debugLevel } from '../debug.js';
import { LiveupdateError } from '../errors.js';
import { describeArgv, type ExecOptions, type ExecResult, type Host } from './host.js';
import {
  certAuthorities,
  fingerprint,
  hostKeyAlgorithms,
  knownHostsLine,
  knownHostsName,
  knownKeyTypes,
  verifyHostKey,
} from './known-hosts.js';
import { certificateProblem, parseHostCertificate } from './host-cert.js';
import { askHidden, canAsk } from './passphrase.js';
import { addressSpec, parseHostSpec } from './target.js';

export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

/** user@addr[:port] with the defaults filled in (no ssh_config): port 22, this user. */
export function parseTarget(spec: string): SshTarget {
  const t = parseHostSpec(spec);
  return { user: t.user ?? process.env['USER'] ?? 'root', host: t.address, port: t.port ?? 22 };
}

export interface SshOptions {
  /** the key to offer (--identity): read or refused */
  identity?: string;
  /** ssh_config's IdentityFile: the first readable one is offered (instead of ~/.ssh/id_*) */
  identityFiles?: string[];
  /** ssh_config's IdentitiesOnly: ssh-agent only for an IdentityFile that is encrypted */
  identitiesOnly?: boolean;
  /** the known_hosts to check and record in (--known-hosts; ssh_config's UserKnownHostsFile); default ~/.ssh/known_hosts */
  knownHosts?: string | string[];
  /** read too, never written (GlobalKnownHostsFile; default /etc/ssh/ssh_known_hosts) */
  globalKnownHosts?: string[];
  /** reach this host through that one (ProxyJump): a direct-tcpip channel of its connection */
  jump?: SshHost;
  /** reach this host through a command's stdin and stdout (ProxyCommand, tokens expanded), run as ssh runs it: sh -c 'exec COMMAND' */
  proxyCommand?: string;
  /** log in as a user who may `sudo -n` to root: every command runs as `sudo -n -- argv` (Ansible's become) */
  become?: boolean;
  /** trust and record an unknown host key (never a changed one) */
  acceptNew?: boolean;
  /** channels at once on the one connection; OpenSSH's MaxSessions defaults to 10 */
  maxChannels?: number;
  readyTimeoutMs?: number;
}

/** The server's software version from its SSH identification string (ssh2 keeps it unexported). */
function isDropbear(c: Client): boolean {
  return /^dropbear/i.test((c as unknown as { _remoteVer?: string })._remoteVer ?? '');
}

/** A remote host over one SSH connection; commands are argv, each word reaching the host as one literal. */
/** A private key file is a few KiB; a megabyte is no key. */
const MAX_KEY_BYTES = 2 ** 20;

/** ssh2's server host key algorithms, in its default order (ssh2/lib/protocol/constants.js, ed25519 supported by Node 20's crypto) */
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
] as const;

/** A known_hosts file's text: '' when there is none; one that is not a readable regular file of sane size is refused. */
function readKnownHosts(file: string): string {
  try {
    return readBounded(file, 64 * 2 ** 20, { nullIsEmpty: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return '';
    throw new LiveupdateError('USAGE', `known hosts file ${file}: cannot read it: ${whyUnreadable(err)}`, { cause: err });
  }
}

export class SshHost implements Host {
  readonly name: string;
  readonly local = false;
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private lostWith: Error | undefined;
  /** after reset(): the host is rebooting, so handshakes that stall are retried sooner */
  private rebooting = false;

  constructor(
    readonly target: SshTarget,
    private readonly opts: SshOptions = {},
  ) {
    this.name = `${target.user}@${addressSpec(target.host)}:${target.port}`;
  }

  /** what privateKey() chose, once per SshHost: a reconnect (after the kexec) never asks again */
  private keyChoice: Promise<KeyChoice | undefined> | undefined;

  /**
   * The private key to offer, read and parsed before connecting: an unreadable or encrypted key is an
   * operator's problem, said in their terms. An encrypted key is left to ssh-agent when one runs
   * (unless named with --identity); otherwise its passphrase is asked on the terminal, as ssh does,
   * and without a terminal the command stops with what to do.
   */
  private privateKey(parseKey: (key: Buffer, passphrase?: string) => unknown, agent: boolean): Promise<KeyChoice | undefined> {
    return (this.keyChoice ??= this.chooseKey(parseKey, agent));
  }

  private async chooseKey(parseKey: (key: Buffer, passphrase?: string) => unknown, agent: boolean): Promise<KeyChoice | undefined> {
    const given = this.opts.identity;
    const candidates = this.opts.identityFiles?.length
      ? this.opts.identityFiles
      : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(homedir(), '.ssh', f));
    const file = given ?? candidates.find((f) => existsSync(f));
    if (!file) return undefined;
    let key: Buffer;
    try {
      // bounded, a regular file only: a FIFO or /dev/zero given as a key is refused, never read without end
      key = Buffer.from(readBounded(file, MAX_KEY_BYTES));
    } catch (err) {
      if (!given) return undefined;
      throw new LiveupdateError('USAGE', `--identity ${file}: cannot read it: ${whyUnreadable(err)}`, {
        cause: err,
      });
    }
    const parsed = parseKey(key);
    if (!(parsed instanceof Error)) return { key };
    const encrypted = /encrypted|passphrase/i.test(parsed.message);
    if (encrypted && agent && !given) return undefined;
    if (encrypted && canAsk()) {
      const passphrase = await askHidden(`Enter passphrase for key '${file}': `);
      if (!(parseKey(key, passphrase) instanceof Error)) return { key, passphrase };
      throw new LiveupdateError('HOST_AUTH_FAILED', `${file}: wrong passphrase`, { hint: `or load it into ssh-agent (ssh-add ${file})` });
    }
    throw new LiveupdateError(
      'HOST_AUTH_FAILED',
      encrypted
        ? `${file}: the key is encrypted with a passphrase, and there is no terminal to ask for it on`
        : `${file}: not a private key liveupdate can read (${parsed.message})`,
      {
        hint: encrypted
          ? `load it into ssh-agent (ssh-add ${file}) and run again with SSH_AUTH_SOCK set${given ? ', without --identity' : ''}`
          : 'pass --identity with an OpenSSH, PEM or PuTTY private key',
      },
    );
  }

  private config(
    onKeyProblem: (e: LiveupdateError) => void,
    identity: KeyChoice | undefined,
    agentSock: string | undefined,
    sock: Duplex | undefined,
  ): ConnectConfig {
    const userFiles = [this.opts.knownHosts ?? join(homedir(), '.ssh', 'known_hosts')].flat();
    const knownHostsFile = userFiles[0]!;
    const readable = [...userFiles, ...(this.opts.globalKnownHosts ?? [])];
    // IdentitiesOnly: the agent only stands in for an IdentityFile it could not read (encrypted)
    const agent = this.opts.identitiesOnly && identity ? undefined : agentSock;
    const hostName = knownHostsName(this.target.host, this.target.port);
    // known_hosts, read once per connection: the key types it knows for this host are asked for
    // first, as OpenSSH orders HostKeyAlgorithms; a file that cannot be read is said when the key is checked
    let text: string | undefined;
    let unreadable: LiveupdateError | undefined;
    try {
      text = readable.map(readKnownHosts).join('\n');
    } catch (e) {
      unreadable = e as LiveupdateError;
    }
    const serverHostKey = hostKeyAlgorithms(text === undefined ? [] : knownKeyTypes(text, hostName), HOST_KEY_ALGORITHMS);
    return {
      host: this.target.host,
      port: this.target.port,
      username: this.target.user,
      ...(sock ? { sock } : {}),
      ...(identity ? { privateKey: identity.key, ...(identity.passphrase !== undefined ? { passphrase: identity.passphrase } : {}) } : {}),
      ...(agent ? { agent } : {}),
      ...(serverHostKey
        ? { algorithms: { serverHostKey: serverHostKey as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] } }
        : {}),
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      // -vv: the SSH transport's own account (ssh2's debug lines)
      ...(debugLevel() >= 2 ? { debug: (m: string) => debug(2, () => `${this.name}: ${m}`) } : {}),
      readyTimeout: this.rebooting ? 3000 : (this.opts.readyTimeoutMs ?? 20_000),
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void): boolean | undefined => {
        const keyType = keyTypeOf(key);
        if (text === undefined) {
          onKeyProblem(unreadable!);
          return false;
        }
        const v = verifyHostKey(text, hostName, keyType, key);
        if (v.kind === 'known') return true;
        const authorities = v.kind === 'unknown' ? certAuthorities(text, hostName) : [];
        if (authorities.length) {
          // a CA vouches for this host: its certificate, fetched apart, must certify this very key
          void this.checkCertificate(key, keyType, authorities).then((problem) => {
            if (problem)
              onKeyProblem(
                new LiveupdateError(
                  'HOST_KEY_REJECTED',
                  `${this.name}: host key ${keyType} ${fingerprint(key)} is not in ${readable.join(' or ')}, and a @cert-authority there trusts this host but: ${problem}; refusing to connect`,
                ),
              );
            verify(!problem);
          });
          return undefined;
        }
        // --accept-new-host-key records a new host's key; a known host presenting a key of another type is a change to review
        if (v.kind === 'unknown' && this.opts.acceptNew && !v.otherTypes.length) {
          mkdirSync(dirname(knownHostsFile), { recursive: true });
          appendFileSync(knownHostsFile, knownHostsLine(hostName, keyType, key));
          return true;
        }
        const fp = fingerprint(key);
        onKeyProblem(
          new LiveupdateError(
            'HOST_KEY_REJECTED',
            v.kind === 'unknown' && v.otherTypes.length
              ? `${this.name}: host key ${keyType} ${fp} is not in ${readable.join(' or ')}, which know${readable.length > 1 ? '' : 's'} this host by another key type (${v.otherTypes.join(', ')}): a key of another type for a known host is a change to review, not a new host; refusing to connect${this.opts.acceptNew ? ' (--accept-new-host-key records only hosts not known at all)' : ''}`
              : v.kind === 'unknown'
                ? `${this.name}: host key ${keyType} ${fp} is not in ${readable.join(' or ')}; refusing to connect`
                : v.kind === 'revoked'
                  ? `${this.name}: host key ${fp} is marked @revoked in ${readable.join(' or ')}`
                  : `${this.name}: HOST KEY CHANGED: presented ${keyType} ${fp}, ${readable.join(' and ')} ha${readable.length > 1 ? 've' : 's'} ${v.expected.join(', ')}; refusing to connect (possible man-in-the-middle)`,
            {
              hint:
                v.kind === 'unknown' && v.otherTypes.length
                  ? `verify the ${keyType} key out of band (ssh-keyscan -t ${keyType.replace(/^ssh-/, '').replace(/^ecdsa-sha2-.*/, 'ecdsa')} prints it), then add its line to known_hosts`
                  : v.kind === 'unknown'
                    ? 'verify the fingerprint out of band, then add it to known_hosts or pass --accept-new-host-key'
                    : 'if the host was legitimately rebuilt, remove the old line from known_hosts',
            },
          ),
        );
        return false;
      },
    };
  }

  private connect(): Promise<Client> {
    if (this.client && !this.lostWith) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    this.lostWith = undefined;
    // ssh2 loads with the first connection: commands that reach no host never pay for it
    const agentSock = process.env['SSH_AUTH_SOCK'] || undefined;
    this.connecting = import('ssh2')
      .then(async ({ default: ssh2 }) => {
        const identity = await this.privateKey((k, p) => ssh2.utils.parseKey(k, p), agentSock !== undefined);
        const sock = this.opts.proxyCommand
          ? this.proxied(this.opts.proxyCommand)
          : await this.opts.jump?.forwardOut(this.target.host, this.target.port);
        return { ssh2, identity, sock };
      })
      .then(
        ({ ssh2, identity, sock }) =>
          new Promise<Client>((resolve, reject) => {
            const c = new ssh2.Client();
            let keyProblem: LiveupdateError | undefined;
            let ready = false;
            c.once('ready', () => {
              debug(1, () => `${this.name}: connected and authenticated`);
              ready = true;
              this.rebooting = false;
              this.client = c;
              resolve(c);
            });
            c.on('error', (err: Error & { level?: string }) => {
              const e = keyProblem ?? translate(err, this.name, ready);
              if (!ready) reject(e);
              else this.lostWith = e;
            });
            c.on('close', () => {
              this.lostWith ??= new LiveupdateError('HOST_UNREACHABLE', `${this.name}: the SSH connection closed`);
              if (!ready) reject(keyProblem ?? this.lostWith);
              this.client = undefined;
            });
            debug(
              1,
              () =>
                `${this.name}: connecting to ${this.target.host}:${this.target.port}${sock ? ' through its ProxyJump' : ''} as ${this.target.user}`,
            );
            c.connect(this.config((e) => (keyProblem = e), identity, agentSock, sock));
          }),
      )
      .finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /**
   * Commands share the one connection, at most maxChannels at once; on dropbear one at a time:
   * dropbear 2022.83 (Debian 12), with several session channels opening and closing, sometimes
   * closes a new channel right after running its command without confirming the exec or sending
   * its exit status (seen on the lab host: 20 of 200 concurrent commands; never one at a time).
   */
  private async channel<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const c = await this.connect();
    const max = isDropbear(c) ? 1 : (this.opts.maxChannels ?? 8);
    while (this.active >= max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn(await this.connect());
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  private execRaw(
    argv: string[],
    opts: ExecOptions & { stdin?: Buffer } = {},
  ): Promise<{ stdout: Buffer; stderr: string; exitCode: number }> {
    return this.channel(async (c) => {
      const { stream, exit } = await this.startCommand(c, describeArgv(this.asRoot(argv)), argv[0] ?? '');
      return new Promise((resolve, reject) => {
        const out: Buffer[] = [];
        let stderr = '';
        const timer = opts.timeoutMs
          ? setTimeout(() => {
              stream.close();
              reject(new LiveupdateError('HOST_COMMAND_FAILED', `${this.name}: ${argv[0]} timed out after ${opts.timeoutMs} ms`));
            }, opts.timeoutMs)
          : undefined;
        stream.on('data', (d: Buffer) => out.push(d));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        exit.onClose(() => {
          clearTimeout(timer);
          const exitCode = exit.code();
          if (exitCode === undefined) {
            reject(
              this.lostWith ??
                new LiveupdateError(
                  'HOST_UNREACHABLE',
                  `${this.name}: the connection dropped while running ${argv[0]}; it may or may not have run`,
                ),
            );
          } else if (this.opts.become && exitCode === 1 && SUDO_REFUSED.test(stderr)) {
            reject(sudoRefused(this.name, this.target.user, stderr));
          } else resolve({ stdout: Buffer.concat(out), stderr, exitCode });
        });
        if (opts.stdin !== undefined) stream.end(opts.stdin);
        else if (opts.input !== undefined) stream.end(opts.input);
        else stream.end();
      });
    });
  }

  /**
   * Open a session channel and start `command` in it. Never retried: a channel the server closed
   * or refused before confirming the exec may still have run the command (dropbear 2022.83 does
   * exactly that, see channel()), so the caller is told it may or may not have run.
   */
  private startCommand(c: Client, command: string, what: string): Promise<{ stream: ClientChannel; exit: ExitStatus }> {
    return new Promise((resolve, reject) =>
      c.exec(command, (err, stream) => {
        // the exit status is watched from here, synchronously: it can arrive in the same read as the
        // exec's confirmation (a quick command, a busy event loop), before any await resumes
        if (!err) return resolve({ stream, exit: watchExit(stream) });
        const opened = !/open failed|Channel open failure/i.test(err.message);
        reject(
          new LiveupdateError(
            'HOST_UNREACHABLE',
            opened
              ? `${this.name}: the server did not confirm that ${what} started (${err.message}); it may or may not have run`
              : `${this.name}: cannot open a channel for ${what}: ${err.message}`,
            { cause: err },
          ),
        );
      }),
    );
  }

  /** Each word stays one literal argument after `--`: sudo runs argv itself, no shell in between. */
  private asRoot(argv: string[]): string[] {
    return this.opts.become ? ['sudo', '-n', '--', ...argv] : argv;
  }

  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    debug(1, () => `${this.name}: ${describeArgv(argv)}`);
    const t0 = Date.now();
    const r = await this.execRaw(argv, opts);
    debug(1, () => `${this.name}: ${argv[0]} exited ${r.exitCode} after ${Date.now() - t0} ms`);
    return { stdout: r.stdout.toString(), stderr: r.stderr, exitCode: r.exitCode };
  }

  async put(content: string | Buffer, remotePath: string, mode?: number): Promise<void> {
    const r = await this.execRaw(
      [
        'sh',
        '-c',
        'mkdir -p "$(dirname "$1")" && cat > "$1" && { [ -z "$2" ] || chmod "$2" "$1"; }',
        'sh',
        remotePath,
        mode === undefined ? '' : mode.toString(8),
      ],
      {
        stdin: Buffer.isBuffer(content) ? content : Buffer.from(content),
      },
    );
    if (r.exitCode !== 0) throw new LiveupdateError('HOST_COMMAND_FAILED', `${this.name}: cannot write ${remotePath}: ${r.stderr.trim()}`);
  }

  async fetch(remotePath: string): Promise<Buffer> {
    const r = await this.execRaw(['cat', remotePath]);
    if (r.exitCode !== 0) throw new LiveupdateError('HOST_COMMAND_FAILED', `${this.name}: cannot read ${remotePath}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** QMP and other unix sockets: OpenSSH streamlocal forwarding, else a socat channel (dropbear has no streamlocal). */
  async connectUnix(path: string): Promise<Duplex> {
    debug(1, () => `${this.name}: connecting to the unix socket ${path} there`);
    const c = await this.connect();
    // streamlocal connects as the login user; with become the sockets are root's: socat under sudo
    if (!this.opts.become && this.streamlocal.get(c) !== false) {
      let unsupported = false;
      const forwarded = await new Promise<Duplex | undefined>((resolve) => {
        c.openssh_forwardOutStreamLocal(path, (err, stream) => {
          // SSH_OPEN_UNKNOWN_CHANNEL_TYPE (3): the server has no streamlocal (dropbear); a missing
          // socket on an OpenSSH server is CONNECT_FAILED (2) and says nothing about support
          if (err) unsupported = (err as Error & { reason?: number }).reason === 3 || /unknown channel type/i.test(err.message);
          resolve(err ? undefined : stream);
        });
      });
      if (forwarded) {
        this.streamlocal.set(c, true);
        return forwarded;
      }
      if (unsupported) this.streamlocal.set(c, false);
    }
    return this.socatStream(c, path);
  }

  private readonly streamlocal = new WeakMap<Client, boolean>();

  private async socatStream(c: Client, path: string): Promise<Duplex> {
    const { stream, exit } = await this.startCommand(c, describeArgv(this.asRoot(['socat', '-', `UNIX-CONNECT:${path}`])), 'socat');
    let early = '';
    stream.stderr.on('data', (d: Buffer) => (early += d.toString()));
    // deferred: socat may have exited already, and the caller attaches its 'error' listener after this returns
    exit.onExit((code) =>
      setImmediate(() => {
        if (code === 0) return;
        stream.emit(
          'error',
          Object.assign(new Error(early.trim() || `socat exited ${code}`), {
            code: /No such file/.test(early) ? 'ENOENT' : 'ECONNREFUSED',
          }),
        );
        stream.destroy();
      }),
    );
    return stream;
  }

  /**
   * Why the host's certificate does not vouch for `key` (undefined: it does). ssh2 cannot take a
   * certificate in the handshake, so ssh-keyscan -c fetches it; it can only prove the key it is
   * asked about (the server signed the handshake with it), so a replayed certificate gains nothing.
   */
  private async checkCertificate(key: Buffer, keyType: string, authorities: Buffer[]): Promise<string | undefined> {
    if (this.opts.jump)
      return 'host certificates are checked with ssh-keyscan, which cannot go through ProxyJump: add the host key itself to known_hosts';
    const scan = await new Promise<{ out: string; err: string }>((resolve) =>
      execFile(
        'ssh-keyscan',
        ['-c', '-T', '10', '-p', String(this.target.port), this.target.host],
        { timeout: 20_000 },
        (err, out, stderr) => resolve({ out: out ?? '', err: err && !out ? `${stderr || err.message}` : '' }),
      ),
    );
    // `-c` lines are `TYPE BASE64` (no host name, unlike plain keyscan lines)
    const certType = `${keyType}-cert-v01@openssh.com`;
    const b64 = scan.out
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[0] === certType && f[1])?.[1];
    if (!b64)
      return `the server offers no ${keyType} certificate (ssh-keyscan -c: ${
        scan.err
          .trim()
          .split('\n')
          .find((l) => !l.startsWith('#')) ?? 'none'
      })`;
    try {
      return certificateProblem(parseHostCertificate(Buffer.from(b64, 'base64')), key, this.target.host, authorities, new Date());
    } catch (err) {
      return `its certificate cannot be read: ${(err as Error).message}`;
    }
  }

  /** A TCP stream to host:port from this host (a ProxyJump hop for the next host). */
  async forwardOut(host: string, port: number): Promise<Duplex> {
    const c = await this.connect();
    return new Promise((resolve, reject) =>
      c.forwardOut('127.0.0.1', 0, host, port, (err, stream) =>
        err
          ? reject(
              new LiveupdateError('HOST_UNREACHABLE', `${this.name} (ProxyJump): cannot reach ${host}:${port} from there: ${err.message}`, {
                cause: err,
              }),
            )
          : resolve(stream),
      ),
    );
  }

  /** The ProxyCommand's stdin and stdout as the connection's socket; what it says on stderr goes into the error when the connection fails. */
  private proxied(command: string): Duplex {
    debug(1, () => `${this.name}: connecting through ProxyCommand ${command}`);
    const child = spawn('sh', ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let said = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (said = (said + d).slice(-2000)));
    const sock = Duplex.from({ readable: child.stdout, writable: child.stdin });
    child.on('exit', (code) => {
      if (!sock.destroyed)
        sock.destroy(
          new LiveupdateError(
            'HOST_UNREACHABLE',
            `${this.name}: ProxyCommand exited ${code ?? 'on a signal'}${said.trim() ? `: ${said.trim().split('\n').at(-1)}` : ''}`,
          ),
        );
    });
    sock.on('close', () => child.kill());
    return sock;
  }

  /** Drop the connection (kexec does this from the other side); the next call reconnects. */
  reset(): void {
    this.rebooting = true;
    // destroy, not end: a clean close waits for a kernel that is gone
    this.client?.destroy();
    this.client = undefined;
    this.lostWith = undefined;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) {
      await new Promise<void>((resolve) => {
        c.once('close', () => resolve());
        c.end();
        setTimeout(() => {
          c.destroy();
          resolve();
        }, 2000).unref();
      });
    }
    // after this host's connection: it runs inside the jump host's
    await this.opts.jump?.close();
  }
}

/** sudo -n's own refusals (it exits 1 then, before running anything) */
const SUDO_REFUSED =
  /^sudo: (a password is required|a terminal is required|.* is not in the sudoers file|.*may not run sudo|sorry, user .* is not allowed).*$/m;

function sudoRefused(name: string, user: string, stderr: string): LiveupdateError {
  return new LiveupdateError(
    'HOST_AUTH_FAILED',
    `${name}: --become: sudo -n refused to run as root: ${SUDO_REFUSED.exec(stderr)![0]}; nothing ran`,
    {
      hint: `let ${user} run commands as root without a password, e.g. /etc/sudoers.d/liveupdate: ${user} ALL=(root) NOPASSWD: ALL (or log in as root)`,
    },
  );
}

interface KeyChoice {
  key: Buffer;
  passphrase?: string;
}

/** ssh2 errors carry `level`: say what went wrong in the operator's terms. */
function translate(err: Error & { level?: string; code?: string }, name: string, ready: boolean): LiveupdateError {
  if (err.level === 'client-authentication') {
    return new LiveupdateError('HOST_AUTH_FAILED', `${name}: authentication failed (no key or agent identity was accepted)`, {
      cause: err,
      hint: 'pass --identity FILE, or load the key into ssh-agent',
    });
  }
  if (err.level === 'client-timeout')
    return new LiveupdateError('HOST_UNREACHABLE', `${name}: no SSH handshake within the timeout`, { cause: err });
  const what = err.code === 'ECONNREFUSED' ? 'connection refused' : err.code === 'EHOSTUNREACH' ? 'host unreachable' : err.message;
  return new LiveupdateError('HOST_UNREACHABLE', `${name}: ${ready ? 'connection lost' : 'cannot connect'}: ${what}`, { cause: err });
}

/** The key type is the first SSH string of the wire-format blob. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return n > 0 && n < 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString('latin1') : 'unknown';
}

/** A command's exit status and its channel's close: listeners added later still hear of them. */
interface ExitStatus {
  code: () => number | undefined;
  onExit: (fn: (code: number) => void) => void;
  onClose: (fn: () => void) => void;
}

function watchExit(stream: ClientChannel): ExitStatus {
  let status: number | undefined;
  let closed = false;
  const onExit: Array<(code: number) => void> = [];
  const onClose: Array<() => void> = [];
  stream.once('exit', (code: number | null, signal?: string) => {
    status = code ?? (signal ? 128 : 1);
    for (const fn of onExit) fn(status);
  });
  stream.once('close', () => {
    closed = true;
    for (const fn of onClose) fn();
  });
  return {
    code: () => status,
    onExit: (fn) => (status === undefined ? onExit.push(fn) : fn(status)),
    onClose: (fn) => (closed ? fn() : onClose.push(fn)),
  };
}

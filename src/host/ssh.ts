import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { LiveupdateError } from '../errors.js';
import { describeArgv, type ExecOptions, type ExecResult, type Host } from './host.js';
import { fingerprint, knownHostsLine, knownHostsName, verifyHostKey } from './known-hosts.js';

export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

/** user@addr[:port], with [v6]:port. */
export function parseTarget(spec: string): SshTarget {
  const m = /^(?:([^@]+)@)?(\[[0-9a-fA-F:.]+\]|[^:@\s]+)(?::([0-9]{1,5}))?$/.exec(spec);
  if (!m) throw new LiveupdateError('USAGE', `--host ${spec}: expected user@address[:port]`);
  const port = m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535) throw new LiveupdateError('USAGE', `--host ${spec}: port ${port} is out of range`);
  return { user: m[1] ?? process.env['USER'] ?? 'root', host: m[2]!.replace(/^\[|\]$/g, ''), port };
}

export interface SshOptions {
  identity?: string;
  knownHosts?: string;
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
export class SshHost implements Host {
  readonly name: string;
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
    this.name = `${target.user}@${target.host}:${target.port}`;
  }

  /**
   * The private key to offer, read and parsed before connecting: an unreadable or encrypted key is an
   * operator's problem, said in their terms. An encrypted default key is left to ssh-agent when one
   * runs (it holds the key unlocked, if it holds it at all); liveupdate never asks for a passphrase.
   */
  private privateKey(parseKey: (key: Buffer) => unknown, agent: boolean): Buffer | undefined {
    const given = this.opts.identity;
    const file = given ?? ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(homedir(), '.ssh', f)).find((f) => existsSync(f));
    if (!file) return undefined;
    let key: Buffer;
    try {
      key = readFileSync(file);
    } catch (err) {
      if (!given) return undefined;
      throw new LiveupdateError('USAGE', `--identity ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    const parsed = parseKey(key);
    if (!(parsed instanceof Error)) return key;
    const encrypted = /encrypted|passphrase/i.test(parsed.message);
    if (encrypted && agent && !given) return undefined;
    throw new LiveupdateError('HOST_AUTH_FAILED', encrypted ? `${file}: the key is encrypted with a passphrase, and liveupdate does not ask for one` : `${file}: not a private key liveupdate can read (${parsed.message})`, {
      hint: encrypted ? `load it into ssh-agent (ssh-add ${file}) and run again with SSH_AUTH_SOCK set${given ? ', without --identity' : ''}` : 'pass --identity with an OpenSSH, PEM or PuTTY private key',
    });
  }

  private config(onKeyProblem: (e: LiveupdateError) => void, parseKey: (key: Buffer) => unknown): ConnectConfig {
    const knownHostsFile = this.opts.knownHosts ?? join(homedir(), '.ssh', 'known_hosts');
    const agent = process.env['SSH_AUTH_SOCK'];
    const privateKey = this.privateKey(parseKey, agent !== undefined && agent !== '');
    const hostName = knownHostsName(this.target.host, this.target.port);
    return {
      host: this.target.host,
      port: this.target.port,
      username: this.target.user,
      ...(privateKey ? { privateKey } : {}),
      ...(agent ? { agent } : {}),
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      readyTimeout: this.rebooting ? 3000 : (this.opts.readyTimeoutMs ?? 20_000),
      hostVerifier: (key: Buffer) => {
        const keyType = keyTypeOf(key);
        const text = existsSync(knownHostsFile) ? readFileSync(knownHostsFile, 'utf8') : '';
        const v = verifyHostKey(text, hostName, keyType, key);
        if (v.kind === 'known') return true;
        if (v.kind === 'unknown' && this.opts.acceptNew) {
          mkdirSync(dirname(knownHostsFile), { recursive: true });
          appendFileSync(knownHostsFile, knownHostsLine(hostName, keyType, key));
          return true;
        }
        const fp = fingerprint(key);
        onKeyProblem(
          new LiveupdateError(
            'HOST_KEY_REJECTED',
            v.kind === 'unknown'
              ? `${this.name}: host key ${keyType} ${fp} is not in ${knownHostsFile}; refusing to connect`
              : v.kind === 'revoked'
                ? `${this.name}: host key ${fp} is marked @revoked in ${knownHostsFile}`
                : `${this.name}: HOST KEY CHANGED: presented ${keyType} ${fp}, ${knownHostsFile} has ${v.expected.join(', ')}; refusing to connect (possible man-in-the-middle)`,
            { hint: v.kind === 'unknown' ? 'verify the fingerprint out of band, then add it to known_hosts or pass --accept-new-host-key' : 'if the host was legitimately rebuilt, remove the old line from known_hosts' },
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
    this.connecting = import('ssh2').then(({ default: ssh2 }) => new Promise<Client>((resolve, reject) => {
      const c = new ssh2.Client();
      let keyProblem: LiveupdateError | undefined;
      let ready = false;
      c.once('ready', () => {
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
      c.connect(this.config((e) => (keyProblem = e), (k) => ssh2.utils.parseKey(k)));
    })).finally(() => (this.connecting = undefined));
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

  private execRaw(argv: string[], opts: ExecOptions & { stdin?: Buffer } = {}): Promise<{ stdout: Buffer; stderr: string; exitCode: number }> {
    return this.channel(async (c) => {
      const { stream, exit } = await this.startCommand(c, describeArgv(argv), argv[0] ?? '');
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
            reject(this.lostWith ?? new LiveupdateError('HOST_UNREACHABLE', `${this.name}: the connection dropped while running ${argv[0]}; it may or may not have run`));
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

  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.execRaw(argv, opts);
    return { stdout: r.stdout.toString(), stderr: r.stderr, exitCode: r.exitCode };
  }

  async put(content: string | Buffer, remotePath: string, mode?: number): Promise<void> {
    const r = await this.execRaw(['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1" && { [ -z "$2" ] || chmod "$2" "$1"; }', 'sh', remotePath, mode === undefined ? '' : mode.toString(8)], {
      stdin: Buffer.isBuffer(content) ? content : Buffer.from(content),
    });
    if (r.exitCode !== 0) throw new LiveupdateError('HOST_COMMAND_FAILED', `${this.name}: cannot write ${remotePath}: ${r.stderr.trim()}`);
  }

  async fetch(remotePath: string): Promise<Buffer> {
    const r = await this.execRaw(['cat', remotePath]);
    if (r.exitCode !== 0) throw new LiveupdateError('HOST_COMMAND_FAILED', `${this.name}: cannot read ${remotePath}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** QMP and other unix sockets: OpenSSH streamlocal forwarding, else a socat channel (dropbear has no streamlocal). */
  async connectUnix(path: string): Promise<Duplex> {
    const c = await this.connect();
    if (this.streamlocal.get(c) !== false) {
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
    const { stream, exit } = await this.startCommand(c, describeArgv(['socat', '-', `UNIX-CONNECT:${path}`]), 'socat');
    let early = '';
    stream.stderr.on('data', (d: Buffer) => (early += d.toString()));
    // deferred: socat may have exited already, and the caller attaches its 'error' listener after this returns
    exit.onExit((code) =>
      setImmediate(() => {
        if (code === 0) return;
        stream.emit('error', Object.assign(new Error(early.trim() || `socat exited ${code}`), { code: /No such file/.test(early) ? 'ENOENT' : 'ECONNREFUSED' }));
        stream.destroy();
      }),
    );
    return stream;
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
    if (!c) return;
    await new Promise<void>((resolve) => {
      c.once('close', () => resolve());
      c.end();
      setTimeout(() => {
        c.destroy();
        resolve();
      }, 2000).unref();
    });
  }
}

/** ssh2 errors carry `level`: say what went wrong in the operator's terms. */
function translate(err: Error & { level?: string; code?: string }, name: string, ready: boolean): LiveupdateError {
  if (err.level === 'client-authentication') {
    return new LiveupdateError('HOST_AUTH_FAILED', `${name}: authentication failed (no key or agent identity was accepted)`, { cause: err, hint: 'pass --identity FILE, or load the key into ssh-agent' });
  }
  if (err.level === 'client-timeout') return new LiveupdateError('HOST_UNREACHABLE', `${name}: no SSH handshake within the timeout`, { cause: err });
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

import { EventEmitter } from 'node:events';
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { LiveupdateError } from '../errors.js';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** A QMP error reply, with the command that caused it. */
export class QmpError extends LiveupdateError {
  readonly errorClass: string;
  readonly command: string;
  constructor(command: string, errorClass: string, desc: string) {
    super('QMP_ERROR', `QMP ${command} failed: ${errorClass}: ${desc}`);
    this.errorClass = errorClass;
    this.command = command;
  }
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * QMP over any duplex stream: a local unix socket, or a remote one forwarded over SSH.
 * Replies are matched to requests by id; events go to 'event' listeners.
 */
/** Why a QMP socket did not take a connection, as an operator reads it. */
export function whyNoConnection(err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return 'no such socket (is the VM running?)';
  if (err.code === 'ECONNREFUSED') return 'nothing listens there (QEMU gone?)';
  return err.message;
}

export class QmpClient extends EventEmitter {
  private buf = '';
  private seq = 0;
  private readonly pending = new Map<string, Pending>();
  private closedWith: Error | undefined;
  greeting: { version?: { qemu?: { major: number; minor: number; micro: number } } } | undefined;

  private constructor(
    private readonly stream: Duplex,
    readonly label: string,
  ) {
    super();
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.onData(chunk));
    stream.on('error', (err) => this.fail(new LiveupdateError('QMP_CLOSED', `QMP ${label}: ${err.message}`, { cause: err })));
    stream.on('close', () => this.fail(new LiveupdateError('QMP_CLOSED', `QMP ${label}: connection closed`)));
    // QEMU closing its end is the end of QMP; an SSH streamlocal channel may stay half-open until we end ours
    stream.on('end', () => {
      this.fail(new LiveupdateError('QMP_CLOSED', `QMP ${label}: connection closed`));
      stream.end();
    });
  }

  /** Wrap a stream, read the greeting and negotiate capabilities. */
  static async over(stream: Duplex, label: string, timeoutMs = 10_000): Promise<QmpClient> {
    const c = new QmpClient(stream, label);
    await c.waitGreeting(timeoutMs);
    await c.execute('qmp_capabilities', undefined, { timeoutMs });
    return c;
  }

  static async connectUnix(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const sock = createConnection(path);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new LiveupdateError('QMP_TIMEOUT', `QMP ${path}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new LiveupdateError('QMP_CLOSED', `QMP ${path}: ${whyNoConnection(err)}`, { cause: err }));
      });
    });
    return QmpClient.over(sock, path, timeoutMs);
  }

  private greetingWaiter: ((g: unknown) => void) | undefined;

  private waitGreeting(timeoutMs: number): Promise<void> {
    if (this.greeting) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new LiveupdateError('QMP_TIMEOUT', `QMP ${this.label}: no greeting within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.once('closed', (e: Error) => {
        clearTimeout(timer);
        reject(e);
      });
      this.greetingWaiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // QEMU never sends non-JSON; ignore garbage rather than die mid-update
    }
    if ('QMP' in msg) {
      this.greeting = msg['QMP'] as QmpClient['greeting'];
      this.greetingWaiter?.(msg);
      return;
    }
    if ('event' in msg) {
      this.emit('event', msg);
      return;
    }
    const id = typeof msg['id'] === 'string' ? msg['id'] : undefined;
    const p = id ? this.pending.get(id) : undefined;
    if (!p || !id) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if ('error' in msg) {
      const e = msg['error'] as { class?: string; desc?: string };
      p.reject(new QmpError(p.command, e.class ?? 'GenericError', e.desc ?? 'no description'));
    } else p.resolve(msg['return']);
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (this.closedWith)
      return Promise.reject(
        new LiveupdateError('QMP_CLOSED', `QMP ${command} on ${this.label}: the connection is closed (QEMU exited?)`, {
          cause: this.closedWith,
        }),
      );
    const id = `lu-${++this.seq}`;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new LiveupdateError('QMP_TIMEOUT', `QMP ${command} on ${this.label}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      this.stream.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n');
    });
  }

  /** Resolve on the first event named `name` (optionally matching `pred`). */
  waitEvent(name: string, timeoutMs: number, pred: (e: QmpEvent) => boolean = () => true): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const onEvent = (e: QmpEvent): void => {
        if (e.event === name && pred(e)) {
          cleanup();
          resolve(e);
        }
      };
      const onClosed = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new LiveupdateError('QMP_TIMEOUT', `QMP ${this.label}: no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('closed', onClosed);
      };
      this.on('event', onEvent);
      this.once('closed', onClosed);
    });
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  private fail(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(
        new LiveupdateError('QMP_CLOSED', `QMP ${p.command} on ${this.label}: connection closed before the reply (QEMU exited?)`, {
          cause: err,
        }),
      );
    }
    this.pending.clear();
    this.emit('closed', err);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stream.destroyed) return resolve();
      this.stream.once('close', () => resolve());
      this.stream.end();
      setTimeout(() => {
        this.stream.destroy();
        resolve();
      }, 1000).unref();
    });
  }
}

/** The version a QEMU reports and the machine type it runs (`pc-q35-7.2-machine` as QOM names it, less the suffix). */
export async function qemuIdentity(c: QmpClient): Promise<{ version: string; machine: string }> {
  const v = await c.execute<{ qemu: { major: number; minor: number; micro: number } }>('query-version');
  const t = await c.execute<string>('qom-get', { path: '/machine', property: 'type' });
  return { version: `${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro}`, machine: String(t).replace(/-machine$/, '') };
}

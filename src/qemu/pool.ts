import { LiveupdateError } from '../errors.js';
import type { Host } from '../host/host.js';
import { QmpClient, whyNoConnection } from './qmp.js';

/** One QMP connection per VM socket, reopened when QEMU closed it. */
export class QmpPool {
  private readonly clients = new Map<string, Promise<QmpClient>>();
  constructor(private readonly host: Host) {}

  get(socket: string, timeoutMs = 10_000): Promise<QmpClient> {
    const existing = this.clients.get(socket);
    if (existing) {
      return existing.then(
        (c) => (c.closed ? this.open(socket, timeoutMs) : c),
        () => this.open(socket, timeoutMs),
      );
    }
    return this.open(socket, timeoutMs);
  }

  private open(socket: string, timeoutMs: number): Promise<QmpClient> {
    const p = this.host.connectUnix(socket).then(
      (stream) => QmpClient.over(stream, socket, timeoutMs),
      (err: NodeJS.ErrnoException) => {
        throw new LiveupdateError('QMP_CLOSED', `QMP ${socket} on ${this.host.name}: ${whyNoConnection(err)}`, { cause: err });
      },
    );
    this.clients.set(socket, p);
    p.catch(() => this.clients.delete(socket));
    return p;
  }

  /** Is a QEMU answering on this socket? Never throws. */
  async alive(socket: string): Promise<QmpClient | undefined> {
    try {
      return await this.get(socket, 5000);
    } catch {
      return undefined;
    }
  }

  drop(socket: string): void {
    const c = this.clients.get(socket);
    this.clients.delete(socket);
    void c?.then(
      (x) => x.close(),
      () => undefined,
    );
  }

  /** Close this process's connection to the socket and wait until it is closed (a QMP socket serves one client at a time). */
  async release(socket: string): Promise<void> {
    const c = this.clients.get(socket);
    this.clients.delete(socket);
    await c?.then(
      (x) => x.close(),
      () => undefined,
    );
  }

  async closeAll(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(
      all.map((p) =>
        p.then(
          (c) => c.close(),
          () => undefined,
        ),
      ),
    );
  }
}

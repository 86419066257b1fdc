import type { Duplex } from 'node:stream';
import { LiveupdateError } from '../errors.js';

/** As narrow as Ansible's connection: run an argv, put a file, fetch a file, close. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecOptions {
  /** text written to the command's stdin */
  input?: string | Buffer;
  timeoutMs?: number;
}

export interface Host {
  /** `local`, or `user@address:port` */
  readonly name: string;
  /** this machine: commands run here, no connection in between */
  readonly local: boolean;
  /** the native helper's path on this host when one was installed there (the on-host agent's static copy) */
  readonly helper?: string;
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** a stream to a unix socket on the host (QMP); over SSH, a streamlocal forward */
  connectUnix(path: string): Promise<Duplex>;
  put(content: string | Buffer, remotePath: string, mode?: number): Promise<void>;
  fetch(remotePath: string): Promise<Buffer>;
  close(): Promise<void>;
  /** forget a connection the other side dropped (kexec); the next call reconnects */
  reset?(): void;
  /**
   * Wait until process `pid` is gone or a zombie, at most `timeoutMs`; false if it is still there.
   * Only a host that can look without starting a command has it (this machine); others get a
   * shell loop in one exec.
   */
  waitGone?(pid: number, timeoutMs: number): Promise<boolean>;
}

export function describeArgv(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** POSIX single-quote quoting: the result is one literal word for any input. */
export function shellQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Which machine `host` is, whatever address reached it: its machine id (systemd's /etc/machine-id,
 * kept across reboots and kexecs), or its boot id where it has none. Two connections that answer
 * alike reach one machine.
 */
export async function machineIdentity(host: Host): Promise<string> {
  const r = await host.exec(
    [
      'sh',
      '-c',
      'if [ -s /etc/machine-id ]; then printf "machine id %s" "$(cat /etc/machine-id)"; else printf "boot id %s" "$(cat /proc/sys/kernel/random/boot_id)"; fi',
    ],
    { timeoutMs: 30_000 },
  );
  const id = r.stdout.trim();
  if (r.exitCode !== 0 || !/^(machine|boot) id [0-9a-f-]{16,64}$/.test(id))
    throw new LiveupdateError(
      'HOST_COMMAND_FAILED',
      `${host.name}: could not read which machine it is (/etc/machine-id): ${r.stderr.trim() || id}`,
    );
  return id;
}

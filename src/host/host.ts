import type { Duplex } from 'node:stream';

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

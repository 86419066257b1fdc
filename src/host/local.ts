import { readFile, writeFile, mkdir, chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execa } from 'execa';
import { LiveupdateError } from '../errors.js';
import type { ExecOptions, ExecResult, Host } from './host.js';

/** This machine, through execa: argv is passed straight to execve, no shell in between. */
export class LocalHost implements Host {
  readonly name = 'local';

  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const [file, ...args] = argv;
    if (!file) throw new Error('exec: empty argv');
    const r = await execa(file, args, {
      reject: false,
      input: opts.input,
      stdin: opts.input === undefined ? 'ignore' : 'pipe',
      timeout: opts.timeoutMs,
      stripFinalNewline: false,
    });
    if (r.failed && r.exitCode === undefined) {
      const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ENOENT') return { stdout: '', stderr: `${file}: command not found`, exitCode: 127 };
      if (r.timedOut) throw new LiveupdateError('HOST_COMMAND_FAILED', `${file} timed out after ${opts.timeoutMs} ms`);
      throw new LiveupdateError('HOST_COMMAND_FAILED', `${file}: ${r.shortMessage}`, { cause: r.cause });
    }
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? 1 };
  }

  async put(content: string | Buffer, remotePath: string, mode?: number): Promise<void> {
    await mkdir(dirname(remotePath), { recursive: true });
    await writeFile(remotePath, content);
    if (mode !== undefined) await chmod(remotePath, mode);
  }

  async fetch(remotePath: string): Promise<Buffer> {
    return readFile(remotePath);
  }

  async close(): Promise<void> {}
}

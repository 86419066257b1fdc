/** Running the CLI from tests: as a child process (bin/liveupdate.js), or in-process (run()). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { run } from '../../src/cli/main.js';
import { ROOT } from './paths.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * bin/liveupdate.js ARGS; `onStdout` sees stdout as it comes; `env` replaces the environment; `signalAt`
 * sends the child a signal once its stdout or stderr first shows `text` (as a terminal's Ctrl-C, a
 * service manager's SIGTERM); LAB_VERBOSE echoes stderr.
 */
export function runCli(
  args: string[],
  opts: { onStdout?: (chunk: string) => void; env?: NodeJS.ProcessEnv; signalAt?: { text: string; signal: NodeJS.Signals } } = {},
): Promise<CliResult & { signalled?: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.env ? { env: opts.env } : {}),
    });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    const watch = (): void => {
      if (opts.signalAt && !signalled && (stdout + stderr).includes(opts.signalAt.text)) {
        signalled = true;
        child.kill(opts.signalAt.signal);
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(d.toString());
      watch();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (process.env['LAB_VERBOSE']) process.stderr.write(d);
      watch();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr, ...(opts.signalAt ? { signalled } : {}) }));
  });
}

/** Two streams standing in for stdout and stderr, and what was written to each so far. */
export function capturedStreams(): { stdout: PassThrough; stderr: PassThrough; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { stdout, stderr, out: () => out, err: () => err };
}

/** src/cli/main.ts run() with its streams captured: no process, no host touched unless asked. */
export async function cliInProcess(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = capturedStreams();
  const code = await run(argv, { stdout: c.stdout, stderr: c.stderr });
  return { code, out: c.out(), err: c.err() };
}

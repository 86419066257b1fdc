/** How a command that failed on a host is told: one message for every such failure (as execa's lib/return/message.js is). */
import { LiveupdateError } from '../errors.js';
import { describeArgv, type ExecResult, type Host } from './host.js';

/** The last `n` lines a command said (its stderr, else its stdout), on one line. */
export function lastLines(r: ExecResult, n = 3): string {
  return (r.stderr || r.stdout).trim().split('\n').slice(-n).join(' / ');
}

/** `what`: `argv` as the shell would read it, its exit code, its last lines; `where` (the host's name) first when given. */
export function commandFailed(what: string, argv: readonly string[], r: ExecResult, where?: string): LiveupdateError {
  const said = lastLines(r);
  return new LiveupdateError(
    'HOST_COMMAND_FAILED',
    `${where ? `${where}: ` : ''}${what}: \`${describeArgv(argv)}\` exited ${r.exitCode}${said ? `: ${said}` : ''}`,
  );
}

/** Run `argv` on `host`; it must exit 0 (else commandFailed, naming the host). Its stdout. */
export async function mustExec(
  host: Host,
  argv: string[],
  what: string,
  opts: { input?: Buffer; timeoutMs?: number } = {},
): Promise<string> {
  const r = await host.exec(argv, { timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.input ? { input: opts.input } : {}) });
  if (r.exitCode !== 0) throw commandFailed(what, argv, r, host.name);
  return r.stdout;
}

/** What every step runner shares: the run's environment, placeholders, one checked command, a VM's status. */
import { LiveupdateError } from '../../errors.js';
import type { Host } from '../../host/host.js';
import { commandFailed } from '../../host/failure.js';
import type { QmpPool } from '../../qemu/pool.js';

/** What a step left behind for later steps and the journal (sizes, hashes, downtime...). */
export type Outcome = Record<string, unknown>;

export interface RunEnv {
  host: Host;
  qmp: QmpPool;
  /** outcomes of steps that already ran, by step id (the journal's memory) */
  outcomes: Map<string, Outcome>;
  /** run-time values for `{placeholders}` in the plan */
  vars: Record<string, string>;
  /**
   * The operator asked to stop (Ctrl-C, SIGTERM): no step outside a blackout window starts after it;
   * steps inside a window (a VM paused) go on until the window closes, so no VM is left paused.
   */
  stop?: AbortSignal;
}

export function fill(text: string, vars: Record<string, string>): string {
  return text.replace(/\{([a-zA-Z0-9_.:-]+)\}/g, (m, k: string) => vars[k] ?? m);
}

export async function sh(env: RunEnv, argv: string[], what: string, timeoutMs = 120_000): Promise<string> {
  const full = argv.map((a) => fill(a, env.vars));
  const unresolved = full.find((a) => /\{[a-zA-Z0-9_.:-]+\}/.test(a) && !a.startsWith('{"'));
  if (unresolved)
    throw new LiveupdateError('STEP_FAILED', `${what}: ${unresolved} has a value only known at run time that nothing provided`);
  const r = await env.host.exec(full, { timeoutMs });
  if (r.exitCode !== 0) throw commandFailed(what, full, r);
  return r.stdout;
}

export async function statusOf(env: RunEnv, socket: string): Promise<string | undefined> {
  const c = await env.qmp.alive(socket);
  if (!c) return undefined;
  try {
    return (await c.execute<{ status: string }>('query-status', undefined, { timeoutMs: 5000 })).status;
  } catch {
    return undefined;
  }
}

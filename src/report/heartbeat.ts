/**
 * A line now and then for a step that runs long, in plain mode (logs, CI, a pipe): a wait of minutes
 * (the new kernel's boot, a migration) is never silent. Each step running past `after` gets a line
 * every `every`: how long it has run and what it is (its description from the plan).
 */
import type { ExecEvent, Progress } from '../exec/events.js';
import type { Plan } from '../plan/types.js';
import { ts } from '../step-line.js';

export const HEARTBEAT_AFTER_MS = 10_000;
export const HEARTBEAT_EVERY_MS = 15_000;

/** `inner` with heartbeat lines written through `write` for its long steps. */
export function withHeartbeat(
  inner: Progress,
  plan: Plan | undefined,
  write: (line: string) => void,
  opts: { after?: number; every?: number; now?: () => number; schedule?: (tick: () => void) => () => void } = {},
): Progress {
  const after = opts.after ?? HEARTBEAT_AFTER_MS;
  const every = opts.every ?? HEARTBEAT_EVERY_MS;
  const now = opts.now ?? Date.now;
  const what = new Map((plan?.steps ?? []).map((s) => [s.id, s.description]));
  const running = new Map<string, { since: number; said: number }>();
  // a timer that does not keep the process alive; a test passes its own and ticks by hand
  const schedule =
    opts.schedule ??
    ((fn: () => void): (() => void) => {
      const t = setInterval(fn, Math.min(1000, every)).unref();
      return () => clearInterval(t);
    });
  let cancel: (() => void) | undefined;
  const tick = (): void => {
    const t = now();
    for (const [id, r] of running) {
      if (t - r.since < after || t - r.said < every) continue;
      r.said = t;
      const desc = what.get(id);
      write(`${ts(t)} … ${id} still running (${Math.round((t - r.since) / 1000)} s)${desc ? `: ${desc}` : ''}\n`);
    }
  };
  const stop = (): void => {
    cancel?.();
    cancel = undefined;
  };
  return {
    emit(e: ExecEvent) {
      if (e.type === 'step-start') {
        // the first line `after` in, then one every `every`
        running.set(e.id, { since: e.at, said: e.at + after - every });
        cancel ??= schedule(tick);
      } else {
        running.delete(e.id);
        if (!running.size) stop();
      }
      inner.emit(e);
    },
    async finish() {
      stop();
      await inner.finish?.();
    },
  };
}

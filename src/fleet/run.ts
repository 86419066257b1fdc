/**
 * A fleet run: hosts in rolling batches; within a batch at most `concurrency` hosts (and at most
 * `maxPerLabel` per rack/zone) update at once; a batch whose failed share exceeds the budget stops
 * the run and no host not yet started is touched; a health gate on each host of a batch before the
 * next; every host keeps its own journal, the fleet keeps one too, so `--resume ID` finishes a run.
 */
import { randomUUID } from 'node:crypto';
import { LiveupdateError } from '../errors.js';
import { blackouts, type Blackout, type ExecEvent } from '../exec/events.js';
import type { Host } from '../host/host.js';
import { batches, budgetExceeded, startable } from './batches.js';
import type { FleetHost, Inventory } from './inventory.js';
import type { FleetEvent, FleetFact, HostReport } from './events.js';
import { FleetJournal, fleetState } from './journal.js';
import { applyLimit } from './limit.js';
import { RateLimiter } from './rate.js';

export interface HostOutcome {
  ok: boolean;
  unreachable?: boolean;
  error?: string;
  /** the host was where the update would take it already: skipped, nothing ran (why) */
  upToDate?: string;
  events: ExecEvent[];
}

/** Updates one host: the real one runs `liveupdate run` against it (see cli/commands/fleet.ts). */
export type HostUpdater = (h: FleetHost, journalDir: string, onEvent: (e: ExecEvent) => void) => Promise<HostOutcome>;
/** The health gate on one host: resolves with an error message, or undefined when it passed. */
export type HealthGate = (h: FleetHost) => Promise<string | undefined>;

export interface FleetResult {
  runId: string;
  ok: boolean;
  dir: string;
  stopped?: string;
  hosts: HostReport[];
}

export interface FleetRunOptions {
  inventory: Inventory;
  limit?: string;
  fleetDir: string;
  resume?: string;
  update: HostUpdater;
  gate?: HealthGate;
  emit: (e: FleetEvent) => void;
}

const UNREACHABLE = new Set(['HOST_UNREACHABLE', 'HOST_KEY_REJECTED', 'HOST_AUTH_FAILED']);

export function phaseReached(events: ExecEvent[]): string | undefined {
  return [...events].reverse().find((e) => e.type === 'step-end' && e.result === 'ok')?.phase;
}

/** The run to go on with: a new one (its hosts and batches begun in a new fleet journal) or the one `--resume` names. */
function openRun(opts: FleetRunOptions): { journal: FleetJournal; plan: string[][]; earlier: Map<string, HostReport> } {
  const earlier = new Map<string, HostReport>();
  if (opts.resume) {
    const journal = FleetJournal.open(opts.fleetDir, opts.resume);
    const fleet = fleetState(journal.records());
    if (!fleet.run) throw new LiveupdateError('JOURNAL_CONFLICT', `${journal.file} has no fleet-run record`);
    if (fleet.done === true) throw new LiveupdateError('USAGE', `fleet run ${opts.resume} already finished: every host is done`);
    const known = new Set(opts.inventory.hosts.map((h) => h.name));
    for (const n of fleet.run.batches.flat()) {
      if (!known.has(n))
        throw new LiveupdateError('USAGE', `fleet run ${opts.resume} has host ${n}, which is not in ${opts.inventory.file} any more`);
    }
    for (const [n, rep] of fleet.ended) if (rep.state === 'ok') earlier.set(n, { ...rep, earlier: true });
    return { journal, plan: fleet.run.batches, earlier };
  }
  let selected: FleetHost[];
  try {
    selected = applyLimit(opts.inventory.hosts, opts.limit);
  } catch (e) {
    throw new LiveupdateError('USAGE', e instanceof Error ? e.message : String(e));
  }
  if (!selected.length) throw new LiveupdateError('USAGE', `--limit '${opts.limit ?? ''}' selects no host of ${opts.inventory.file}`);
  const plan = batches(selected, opts.inventory.rollout.serial).map((b) => b.map((h) => h.name));
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomUUID().slice(0, 8)}`;
  const journal = FleetJournal.create(opts.fleetDir, runId);
  journal.begin({
    runId,
    at: Date.now(),
    inventory: opts.inventory.file,
    ...(opts.limit ? { limit: opts.limit } : {}),
    batches: plan,
    maxFailPercentage: opts.inventory.rollout.maxFailPercentage,
  });
  return { journal, plan, earlier };
}

/** What one host's update needs from its run: where its journal goes, what to record and show, the connection rate. */
interface HostRun {
  journal: FleetJournal;
  record: (e: FleetFact) => void;
  emit: (e: FleetEvent) => void;
  limiter: RateLimiter;
}

/** One host of batch `bi`: its update, then the health gate, as the report that ends it. */
async function updateOne(opts: FleetRunOptions, run: HostRun, h: FleetHost, bi: number): Promise<HostReport> {
  const t0 = Date.now();
  run.record({ type: 'host-start', host: h.name, batch: bi });
  const events: ExecEvent[] = [];
  let out: HostOutcome;
  try {
    await run.limiter.take();
    out = await opts.update(h, run.journal.hostJournalDir(h.name), (e) => {
      events.push(e);
      run.emit({ type: 'host-step', host: h.name, event: e });
    });
  } catch (e) {
    const code = e instanceof LiveupdateError ? e.code : 'BUG';
    out = { ok: false, unreachable: UNREACHABLE.has(code), error: e instanceof Error ? e.message : String(e), events };
  }
  let error = out.error;
  let ok = out.ok;
  // a host skipped as up to date had nothing changed: no gate to pass
  if (ok && opts.gate && !out.upToDate) {
    const why = await opts.gate(h).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
    run.record({ type: 'gate', host: h.name, ok: why === undefined, ...(why ? { message: why } : {}) });
    if (why !== undefined) {
      ok = false;
      error = `health gate: ${why}`;
    }
  }
  const all = out.events.length ? out.events : events;
  const reached = phaseReached(all);
  return {
    host: h.name,
    batch: bi,
    state: ok ? 'ok' : out.unreachable ? 'unreachable' : 'failed',
    ...(reached ? { phaseReached: reached } : {}),
    blackouts: blackouts(all),
    ms: Date.now() - t0,
    ...(error ? { error } : {}),
    ...(out.upToDate ? { upToDate: out.upToDate } : {}),
  };
}

/**
 * Batch `bi`'s hosts still to do, at most `concurrency` (and `maxPerLabel` per label) at once; once
 * the batch's failures exceed the budget no further host of it starts. Returns how many failed.
 */
async function runBatch(
  opts: FleetRunOptions,
  run: HostRun,
  todo: FleetHost[],
  bi: number,
  size: number,
  done: (rep: HostReport) => void,
): Promise<{ failed: number; exceeded: boolean }> {
  const r = opts.inventory.rollout;
  const waiting = [...todo];
  const running = new Map<string, { host: FleetHost; done: Promise<void> }>();
  let failed = 0;
  let exceeded = false;
  const concurrency = r.concurrency ?? size;
  while (waiting.length || running.size) {
    if (!exceeded) {
      for (const h of startable(
        waiting,
        [...running.values()].map((x) => x.host),
        concurrency,
        r.maxPerLabel,
      )) {
        waiting.splice(waiting.indexOf(h), 1);
        const one = updateOne(opts, run, h, bi).then((rep) => {
          done(rep);
          if (rep.state !== 'ok') failed++;
          // the budget is of the whole batch: exceeded means no further host of it starts
          if (budgetExceeded(failed, size, r.maxFailPercentage)) exceeded = true;
        });
        running.set(h.name, { host: h, done: one.finally(() => running.delete(h.name)) });
      }
    }
    if (!running.size) break;
    await Promise.race([...running.values()].map((x) => x.done));
  }
  return { failed, exceeded };
}

export async function runFleet(opts: FleetRunOptions): Promise<FleetResult> {
  const byName = new Map(opts.inventory.hosts.map((h) => [h.name, h]));
  const { journal, plan, earlier } = openRun(opts);
  // every fact of the run is written ahead to the fleet journal, then shown; a host's own step
  // events are shown only (its host journal has them)
  const record = (e: FleetFact): void => {
    journal.record(e);
    opts.emit(e);
  };
  const run: HostRun = { journal, record, emit: opts.emit, limiter: new RateLimiter(opts.inventory.rollout.connectRate) };
  const runId = journal.dir.split('/').pop()!;
  const reports = new Map<string, HostReport>(earlier);
  record({ type: 'fleet-run', runId, hosts: plan.flat().length, batches: plan, resumed: !!opts.resume });
  // what an earlier attempt finished is shown again, not recorded again
  for (const rep of earlier.values()) opts.emit({ type: 'host-end', ...rep });
  let stopped: string | undefined;
  let hosts: HostReport[] = [];
  try {
    for (const [bi, names] of plan.entries()) {
      const todo = names.filter((n) => !earlier.has(n)).map((n) => byName.get(n)!);
      if (!todo.length) continue;
      record({ type: 'batch-start', batch: bi, hosts: todo.map((h) => h.name) });
      const { failed, exceeded } = await runBatch(opts, run, todo, bi, names.length, (rep) => {
        reports.set(rep.host, rep);
        record({ type: 'host-end', ...rep });
      });
      record({ type: 'batch-end', batch: bi, failed, size: names.length });
      if (exceeded) {
        stopped = `batch ${bi + 1}: ${failed} of ${names.length} host(s) failed, more than maxFailPercentage ${opts.inventory.rollout.maxFailPercentage}%; hosts not started were left untouched`;
        break;
      }
    }
  } finally {
    if (stopped) record({ type: 'stopped', reason: stopped });
    hosts = plan.flatMap((b, bi) =>
      b.map((n) => reports.get(n) ?? { host: n, batch: bi, state: 'not-started' as const, blackouts: [] as Blackout[], ms: 0 }),
    );
    const ok = !stopped && hosts.every((h) => h.state === 'ok');
    if (ok || stopped) journal.record({ type: 'done', ok });
    journal.close();
  }
  const ok = !stopped && hosts.every((h) => h.state === 'ok');
  return { runId, ok, dir: journal.dir, ...(stopped ? { stopped } : {}), hosts };
}

/**
 * The inventory's health gate: its command on the host (reached by `connect`) until it exits 0. A check starts only
 * while the gate's window (`timeout`) is open, and once started it has its own `checkTimeout`, whatever
 * is left of the window: on a host whose login shell is slow, a command that exits in time is judged
 * by its exit code, never cut short by the window. The connection has its own timeout as well.
 */
export function commandHealthGate(inv: Inventory, connect: (h: FleetHost) => Host): HealthGate | undefined {
  const g = inv.rollout.healthGate;
  if (!g) return undefined;
  return async (h) => {
    const deadline = Date.now() + g.timeoutMs;
    const host = connect(h);
    let last = '';
    try {
      for (;;) {
        try {
          const r = await host.exec(g.command, { timeoutMs: g.checkTimeoutMs });
          if (r.exitCode === 0) return undefined;
          last = `\`${g.command.join(' ')}\` exited ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').pop()}` : ''}`;
        } catch (e) {
          last = e instanceof Error ? e.message : String(e);
          host.reset?.();
        }
        if (Date.now() + g.intervalMs > deadline) return `${last} (for ${g.timeoutMs / 1000} s)`;
        await new Promise((res) => setTimeout(res, g.intervalMs));
      }
    } finally {
      await host.close();
    }
  };
}

/**
 * `liveupdate fleet plan|run|status --inventory FILE`: many hosts over SSH. `plan` gathers every
 * host's facts and makes its plan (nothing changes); `run` updates them in rolling batches with a
 * failure budget and a health gate (each host exactly as `liveupdate run --host` would); `status`
 * reads a run's fleet journal. `run --resume ID` finishes a run that stopped.
 */
import type { Command } from 'commander';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LiveupdateError } from '../../errors.js';
import { batches } from '../../fleet/batches.js';
import { requireInventory, type FleetHost, type Inventory } from '../../fleet/inventory.js';
import { DEFAULT_FLEET_DIR, FleetJournal, fleetState, type HostReport } from '../../fleet/journal.js';
import { applyLimit } from '../../fleet/limit.js';
import { RateLimiter } from '../../fleet/rate.js';
import { commandHealthGate, runFleet, targetOf, type FleetEvent } from '../../fleet/run.js';
import { makePlan } from '../../plan/planner.js';
import { requireProfile } from '../../profile/load.js';
import type { Locate, Profile } from '../../profile/types.js';
import { EXIT, type Output } from '../output.js';
import { obtainFacts, openHost } from '../../app/hosts.js';
import { connectFleetHost, realUpdater } from '../../app/fleet.js';
import { plainLine } from '../../report/progress.js';
import { fleetTtyReporter } from '../../report/fleet-tty.js';

interface FleetOpts {
  inventory: string;
  limit?: string;
  fleetDir: string;
  forks: string;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export function renderFleetTable(hosts: HostReport[]): string {
  const rows = hosts.map((h) => [
    h.host,
    String(h.batch + 1),
    h.state + (h.earlier ? ' (earlier)' : ''),
    h.phaseReached ?? '-',
    h.blackouts.length ? h.blackouts.map((b) => `${b.vm} ${b.ms.toFixed(0)} ms`).join(', ') : '-',
    h.ms ? secs(h.ms) : '-',
    h.error ?? '',
  ]);
  const head = ['host', 'batch', 'state', 'phase reached', 'blackout per VM', 'duration', 'error'];
  const widths = head.map((t, i) => Math.min(60, Math.max(t.length, ...rows.map((r) => r[i]!.length))));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

function plainFleetLine(e: FleetEvent): string | undefined {
  switch (e.type) {
    case 'fleet-run':
      return `fleet run ${e.runId}${e.resumed ? ' (resumed)' : ''}: ${e.hosts} host(s) in batches of ${e.batches.map((b) => b.length).join(', ')}\n`;
    case 'batch-start':
      return `batch ${e.batch + 1}: ${e.hosts.join(', ')}\n`;
    case 'host-start':
      return `  ${e.host}: started\n`;
    case 'host-step': {
      const l = e.event.type === 'step-failed' ? plainLine(e.event) : undefined;
      return l ? `  ${e.host}: ${l}` : undefined;
    }
    case 'gate':
      return `  ${e.host}: health gate ${e.ok ? 'passed' : `FAILED: ${e.message}`}\n`;
    case 'host-end':
      return `  ${e.host}: ${e.state}${e.error ? `: ${e.error}` : ''} (${secs(e.ms)})\n`;
    case 'batch-end':
      return `batch ${e.batch + 1}: ${e.size - e.failed} of ${e.size} ok\n`;
    case 'stopped':
      return `STOPPED: ${e.reason}\n`;
  }
}

/** The most recent run in the fleet directory. */
function latestRun(dir: string): string {
  let best: { id: string; t: number } | undefined;
  for (const id of (() => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  })()) {
    try {
      const t = statSync(join(dir, id, 'fleet.journal')).mtimeMs;
      if (!best || t > best.t) best = { id, t };
    } catch {
      /* not a run */
    }
  }
  if (!best) throw new LiveupdateError('USAGE', `no fleet run in ${dir}`);
  return best.id;
}

export interface HostPlanRow {
  host: string;
  batch: number;
  target: string;
  profile: string;
  ok: boolean;
  steps?: number;
  toDo?: number;
  blackoutSteps?: number;
  bootId?: string;
  error?: string;
}

/** Facts and a plan for every host, `forks` at a time, new connections rate-limited. */
export async function planFleet(inv: Inventory, limit: string | undefined, forks: number): Promise<{ batches: string[][]; hosts: HostPlanRow[] }> {
  const selected = applyLimit(inv.hosts, limit);
  if (!selected.length) throw new LiveupdateError('USAGE', `--limit '${limit ?? ''}' selects no host of ${inv.file}`);
  const bs = batches(selected, inv.rollout.serial);
  const batchOf = new Map(bs.flatMap((b, i) => b.map((h) => [h.name, i] as const)));
  const profiles = new Map<string, { profile: Profile; locate: Locate }>();
  const limiter = new RateLimiter(inv.rollout.connectRate);
  const one = async (h: FleetHost): Promise<HostPlanRow> => {
    const base = { host: h.name, batch: batchOf.get(h.name)!, target: targetOf(h), profile: h.profile };
    try {
      let p = profiles.get(h.profile);
      if (!p) {
        const r = requireProfile(h.profile);
        p = { profile: r.profile, locate: r.locate };
        profiles.set(h.profile, p);
      }
      const profile = { ...p.profile, host: { ...p.profile.host, name: h.hostname } };
      const hostOpts = { host: targetOf(h), ...(h.identity ? { identity: h.identity } : {}), ...(h.knownHosts ? { knownHosts: h.knownHosts } : {}) };
      if (!h.facts) await limiter.take();
      const facts = await obtainFacts({ ...hostOpts, ...(h.facts ? { facts: h.facts } : {}) }, profile, h.facts ? undefined : openHost(hostOpts));
      const plan = makePlan({ profile, facts, phases: inv.rollout.phases, locate: p.locate, update: inv.rollout.vmmOnly ? 'vmm' : 'kernel' });
      return { ...base, ok: true, steps: plan.steps.length, toDo: plan.steps.filter((s) => !s.satisfied).length, blackoutSteps: plan.steps.filter((s) => s.blackout).length, bootId: plan.facts.bootId };
    } catch (e) {
      const msg = e instanceof LiveupdateError ? [e.message, ...e.diagnostics.map((d) => (d.where ? `${d.where}: ` : '') + d.message)].join('; ') : e instanceof Error ? e.message : String(e);
      return { ...base, ok: false, error: msg };
    }
  };
  const rows: HostPlanRow[] = new Array<HostPlanRow>(selected.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(forks, selected.length) }, async () => {
      while (next < selected.length) {
        const i = next++;
        rows[i] = await one(selected[i]!);
      }
    }),
  );
  return { batches: bs.map((b) => b.map((h) => h.name)), hosts: rows };
}

export function registerFleet(program: Command, out: () => Output, setExit: (c: number) => void): void {
  const fleet = program.command('fleet').description('many hosts over SSH: plan, run in rolling batches with a failure budget, status');
  const common = (c: Command): Command =>
    c
      .requiredOption('--inventory <file>', 'inventory YAML (hosts, groups, labels, rollout)')
      .option('--limit <expr>', "hosts to include: names (globs), groups, label=value; ',' or ':' between terms, !term excludes, &term intersects")
      .option('--fleet-dir <dir>', 'where fleet runs keep their journals and reports', DEFAULT_FLEET_DIR)
      .option('--forks <n>', 'hosts probed at once (plan)', '50')
      .option('--json', 'machine-readable output');

  common(fleet.command('plan').description('gather every host\'s facts and make its plan; show the batches; nothing changes')).action(async (opts: FleetOpts) => {
    const o = out();
    const inv = requireInventory(opts.inventory);
    const forks = Number(opts.forks);
    if (!Number.isInteger(forks) || forks < 1) throw new LiveupdateError('USAGE', `--forks ${opts.forks}: expected a positive integer`);
    // a user's mistake (a bad --limit) is a LiveupdateError already; anything else is a bug, reported as one
    const r = await planFleet(inv, opts.limit, forks);
    const bad = r.hosts.filter((h) => !h.ok);
    const text = [
      `${r.hosts.length} host(s) in ${r.batches.length} batch(es): ${r.batches.map((b) => b.length).join(', ')}`,
      ...r.batches.map((b, i) => `  batch ${i + 1}: ${b.join(', ')}`),
      '',
      ...r.hosts.map((h) => (h.ok ? `${h.host}  batch ${h.batch + 1}  ${h.toDo}/${h.steps} step(s) to do, ${h.blackoutSteps} in the blackout` : `${h.host}  batch ${h.batch + 1}  CANNOT PLAN: ${h.error}`)),
      '',
      bad.length ? `${bad.length} host(s) cannot be planned; nothing was changed` : 'every host can be planned; nothing was changed',
    ].join('\n');
    o.result(text + '\n', { type: 'fleet-plan', inventory: inv.file, batches: r.batches, hosts: r.hosts });
    if (bad.length) setExit(EXIT.error);
  });

  common(fleet.command('run').description('update the hosts in rolling batches (each as `liveupdate run --host`); stops when a batch exceeds maxFailPercentage'))
    .option('--resume <id>', 'finish an earlier fleet run: hosts that finished are skipped, hosts that stopped mid-way resume from their own journal')
    .option('--report <file>', 'also write the JSON report here')
    .option('--agent', 'each host runs its plan itself (the on-host agent, as `liveupdate run --agent`): the resume after its kexec needs no control node')
    .action(async (opts: FleetOpts & { resume?: string; report?: string; agent?: boolean }) => {
      const o = out();
      const inv = requireInventory(opts.inventory);
      if (opts.resume && opts.limit) throw new LiveupdateError('USAGE', '--resume takes the hosts and batches of the run it resumes; drop --limit');
      // listr2 on a terminal (batch -> host -> phase), NDJSON with --json, plain lines otherwise
      const tty = !o.json && process.stderr.isTTY === true && !process.env['CI'];
      let reporter: ReturnType<typeof fleetTtyReporter> | undefined;
      const gate = commandHealthGate(inv, connectFleetHost);
      const result = await runFleet({
        inventory: inv,
        ...(opts.limit ? { limit: opts.limit } : {}),
        fleetDir: opts.fleetDir,
        ...(opts.resume ? { resume: opts.resume } : {}),
        update: realUpdater(inv, { agent: opts.agent === true }),
        ...(gate ? { gate } : {}),
        emit: (e) => {
          if (o.json) o.event(e.type === 'host-step' ? { ...e.event, type: 'host-step', host: e.host, step: e.event.type } : { ...e });
          else if (tty) {
            if (e.type === 'fleet-run') reporter = fleetTtyReporter(e.batches);
            else if (e.type === 'stopped') process.stderr.write(`STOPPED: ${e.reason}\n`);
            else reporter?.emit(e);
          } else {
            const l = plainFleetLine(e);
            if (l) process.stderr.write(l);
          }
        },
      });
      await reporter?.finish();
      const report = { type: 'fleet-report', runId: result.runId, ok: result.ok, stopped: result.stopped ?? null, dir: result.dir, hosts: result.hosts };
      writeFileSync(join(result.dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
      if (opts.report) writeFileSync(opts.report, JSON.stringify(report, null, 2) + '\n');
      if (o.json) o.event({ ...report, type: 'result' });
      else {
        process.stdout.write(renderFleetTable(result.hosts));
        process.stdout.write(`${result.ok ? 'fleet run done' : result.stopped ? `fleet run STOPPED: ${result.stopped}` : 'fleet run finished with failures'} (run ${result.runId}; report ${join(result.dir, 'report.json')})\n`);
        if (!result.ok) process.stdout.write(`resume it with: liveupdate fleet run --inventory ${opts.inventory} --resume ${result.runId}\n`);
      }
      if (!result.ok) setExit(EXIT.error);
    });

  fleet
    .command('status')
    .description("a fleet run's account from its journal: each host's state, the batches, why it stopped")
    .requiredOption('--inventory <file>', 'inventory YAML')
    .option('--run <id>', 'the run (default: the latest)')
    .option('--fleet-dir <dir>', 'where fleet runs keep their journals', DEFAULT_FLEET_DIR)
    .option('--json', 'machine-readable output')
    .action((opts: { inventory: string; run?: string; fleetDir: string }) => {
      const o = out();
      requireInventory(opts.inventory);
      const id = opts.run ?? latestRun(opts.fleetDir);
      const j = FleetJournal.open(opts.fleetDir, id);
      const st = fleetState(j.records());
      j.close();
      const hosts: HostReport[] = (st.run?.batches ?? []).flatMap((b, bi) => b.map((n) => st.ended.get(n) ?? { host: n, batch: bi, state: 'not-started' as const, blackouts: [], ms: 0, ...(st.started.has(n) ? { error: 'started, no end recorded (in flight or interrupted): --resume continues it' } : {}) }));
      const state = st.done === true ? 'finished: every host ok' : st.stopped ? `stopped: ${st.stopped}` : st.done === false ? 'finished with failures' : 'in progress or interrupted';
      o.result(`fleet run ${id}: ${state}\n${renderFleetTable(hosts)}`, { type: 'fleet-status', runId: id, state, hosts });
    });
}

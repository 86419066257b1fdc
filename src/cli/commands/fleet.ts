/**
 * `liveupdate fleet plan|run|status --inventory FILE`: many hosts over SSH. `plan` gathers every
 * host's facts and makes its plan (nothing changes); `run` updates them in rolling batches with a
 * failure budget and a health gate (each host exactly as `liveupdate run --host` would); `status`
 * reads a run's fleet journal. `run --resume ID` finishes a run that stopped.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FORKS } from '../../defaults.js';
import { EXIT, LiveupdateError } from '../../errors.js';
import { writeWhole } from '../../app/output-file.js';
import { requireInventory } from '../../fleet/inventory.js';
import type { HostReport } from '../../fleet/events.js';
import { FleetJournal, fleetState } from '../../fleet/journal.js';
import { commandHealthGate, runFleet } from '../../fleet/run.js';
import type { FleetReport } from '../../report/documents.js';
import { fleetView } from '../../report/views/fleet.js';
import { connectFleetHost, planFleet, realUpdater, type FleetSsh } from '../../app/fleet.js';
import { viaAgent } from '../../app/update.js';
import type { CommandContext } from '../context.js';
import { confirmOrRefuse } from '../confirm.js';

export interface FleetOpts extends FleetSsh {
  inventory: string;
  limit?: string;
  fleetDir: string;
  forks: string;
}

/** -F, -J, -o as given (for every host of the inventory). */
const sshOf = (o: FleetSsh): FleetSsh => ({
  ...(o.sshConfig !== undefined ? { sshConfig: o.sshConfig } : {}),
  ...(o.jump !== undefined ? { jump: o.jump } : {}),
  ...(o.option !== undefined ? { option: o.option } : {}),
});

export type FleetRunOpts = Omit<FleetOpts, 'forks'> & {
  forks?: string;
  resume?: string;
  report?: string;
  agent?: boolean;
  force?: boolean;
  via: string;
  dryRun?: boolean;
  yes?: boolean;
};
export type FleetStatusOpts = { inventory: string; run?: string; fleetDir: string };

/** The most recent run in the fleet directory. */
function latestRun(dir: string): string | undefined {
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
  return best?.id;
}

export async function fleetPlan(opts: FleetOpts & { force?: boolean }, { out, setExit }: CommandContext): Promise<void> {
  const inv = requireInventory(opts.inventory);
  const forks = Number(opts.forks);
  if (!Number.isInteger(forks) || forks < 1) throw new LiveupdateError('USAGE', `--forks ${opts.forks}: expected a positive integer`);
  // a user's mistake (a bad --limit) is a LiveupdateError already; anything else is a bug, reported as one
  const r = await planFleet(inv, opts.limit, forks, { force: opts.force ?? false, ssh: sshOf(opts) });
  fleetView(out).planned(inv.file, r);
  if (r.hosts.some((h) => !h.ok)) setExit(EXIT.error);
}

export async function fleetRun(opts: FleetRunOpts, ctx: CommandContext): Promise<void> {
  if (opts.dryRun) {
    if (opts.resume) throw new LiveupdateError('USAGE', '--dry-run plans the hosts afresh; drop --resume');
    return fleetPlan({ ...opts, forks: opts.forks ?? String(DEFAULT_FORKS) }, ctx);
  }
  if (opts.forks !== undefined)
    throw new LiveupdateError(
      'USAGE',
      "--forks is how many hosts --dry-run probes at once; a run updates rollout.concurrency hosts of a batch at once (the inventory's rollout:)",
    );
  const { out, setExit } = ctx;
  const inv = requireInventory(opts.inventory);
  if (opts.resume && opts.limit)
    throw new LiveupdateError('USAGE', '--resume takes the hosts and batches of the run it resumes; drop --limit');
  // phases all and update both pass the kexec
  if (!inv.rollout.vmmOnly) {
    const which = opts.resume
      ? `the hosts of fleet run ${opts.resume} not yet done`
      : `the hosts of ${inv.file}${opts.limit ? ` matching --limit ${opts.limit}` : ''}`;
    await confirmOrRefuse(
      out,
      opts.yes,
      `'fleet run' kexecs ${which} into their staged kernels, batch by batch; each host past its kexec resumes its VMs only on the new kernel`,
      `review first: liveupdate fleet run --dry-run --inventory ${opts.inventory}${opts.limit ? ` --limit ${opts.limit}` : ''}`,
    );
  }
  const view = fleetView(out);
  const progress = view.progress();
  const gate = commandHealthGate(inv, (h) => connectFleetHost(h, sshOf(opts)));
  const result = await runFleet({
    inventory: inv,
    ...(opts.limit ? { limit: opts.limit } : {}),
    fleetDir: opts.fleetDir,
    ...(opts.resume ? { resume: opts.resume } : {}),
    update: realUpdater(inv, {
      agent: viaAgent({ remote: true, via: opts.via, ...(opts.agent ? { agent: true } : {}) }),
      force: opts.force ?? false,
      ssh: sshOf(opts),
    }),
    ...(gate ? { gate } : {}),
    emit: progress.emit,
  });
  await progress.finish();
  const report: FleetReport = {
    type: 'fleet-report',
    runId: result.runId,
    ok: result.ok,
    stopped: result.stopped ?? null,
    dir: result.dir,
    hosts: result.hosts,
  };
  writeFileSync(join(result.dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  if (opts.report) writeWhole(opts.report, JSON.stringify(report, null, 2) + '\n', '--report');
  view.done(report, {
    report: join(result.dir, 'report.json'),
    resume: `liveupdate fleet run --inventory ${opts.inventory} --resume ${result.runId}`,
  });
  // stopped with hosts changed (updated, or left part-way: the report says which; --resume goes on), or before any
  if (!result.ok) setExit(result.hosts.some((h) => h.state === 'ok' || h.phaseReached) ? EXIT.stopped : EXIT.error);
}

export function fleetStatus(opts: FleetStatusOpts, { out }: CommandContext): void {
  requireInventory(opts.inventory);
  const id = opts.run ?? latestRun(opts.fleetDir);
  // nothing ran yet: an answer, not an error (as `status` says of a host with no run)
  if (id === undefined) return fleetView(out).status(null, 'none', [], opts.fleetDir);
  const j = FleetJournal.open(opts.fleetDir, id);
  const fleet = fleetState(j.records());
  j.close();
  const hosts: HostReport[] = (fleet.run?.batches ?? []).flatMap((b, bi) =>
    b.map(
      (n) =>
        fleet.ended.get(n) ?? {
          host: n,
          batch: bi,
          state: 'not-started' as const,
          blackouts: [],
          ms: 0,
          ...(fleet.started.has(n) ? { error: 'started, no end recorded (in flight or interrupted): --resume continues it' } : {}),
        },
    ),
  );
  const state =
    fleet.done === true
      ? 'finished: every host ok'
      : fleet.stopped
        ? `stopped: ${fleet.stopped}`
        : fleet.done === false
          ? 'finished with failures'
          : 'in progress or interrupted';
  fleetView(out).status(id, state, hosts, opts.fleetDir);
}

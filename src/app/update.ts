/**
 * The use case every phase command, the demo and the fleet share: one host's live update. Profile,
 * host, journal, facts, plan, execute; and, when a guard fails before the point of no return, the
 * abort that puts every VM back on the running kernel. The CLI parses flags and picks a reporter;
 * everything between that and the executor is here.
 */
import { LiveupdateError, type Diagnostic } from '../errors.js';
import { execute, type ExecuteResult } from '../exec/executor.js';
import type { ExecEvent } from '../exec/events.js';
import { Journal, journalFile } from '../exec/journal.js';
import { makePlan, type PhaseSelection } from '../plan/planner.js';
import type { Plan } from '../plan/types.js';
import { requireProfile } from '../profile/load.js';
import type { Profile } from '../profile/types.js';
import { isLocal, obtainFacts, openHost, requireLiveBootId, type HostOptions } from './hosts.js';

export interface UpdateRequest extends HostOptions {
  profile: string;
  facts?: string;
  dryRun?: boolean;
  vmmOnly?: boolean;
  journalDir?: string;
  allowOtherHost?: boolean;
  markDone?: string[];
  /** fleet runs: the hostname the inventory expects, in place of the profile's host.name */
  expectHostname?: string;
}

export const REMOTE_JOURNAL_DIR = '/var/lib/liveupdate/remote';

/** Runs on this machine keep the journal on its disk (it must survive the kexec); remote runs keep it here. */
export function journalFor(opts: { host?: string; journalDir?: string }, profile: Profile): string {
  return journalFile(opts.journalDir ?? (isLocal(opts.host) ? profile.journal.dir : REMOTE_JOURNAL_DIR), profile.host.name);
}

/** Where one plan's executor events go; `finish` once that plan is done (a TTY reporter closes). */
export interface PhaseReporter {
  emit: (e: ExecEvent) => void;
  finish?: () => Promise<void>;
}

/** What the use case tells its caller while it runs. */
export interface UpdateListener {
  warn: (d: Diagnostic) => void;
  /** the plan about to run (not the abort plan that follows a failed guard: autoAbort says that) */
  planned: (plan: Plan, host: string) => void;
  /** a guard failed before the point of no return: every VM is being resumed on this kernel */
  autoAbort: (stepId: string) => void;
  reporter: (plan: Plan) => PhaseReporter;
}

export type UpdateOutcome = { dryRun: Plan } | ExecuteResult;

export const isDryRun = (r: UpdateOutcome): r is { dryRun: Plan } => 'dryRun' in r;

/** One host through the phases `phases` of its profile's plan, journaled; see the file comment. */
export async function updateHost(name: string, phases: PhaseSelection, req: UpdateRequest, listener: UpdateListener): Promise<UpdateOutcome> {
  const loaded = requireProfile(req.profile);
  const { warnings, locate } = loaded;
  const profile = req.expectHostname ? { ...loaded.profile, host: { ...loaded.profile.host, name: req.expectHostname } } : loaded.profile;
  for (const w of warnings) listener.warn(w);
  const host = openHost(req);
  const journal = Journal.open(journalFor(req, profile));
  const planFor = (sel: PhaseSelection, facts: Parameters<typeof makePlan>[0]['facts']): Plan =>
    makePlan({ profile, facts, phases: sel, locate, allowOtherHost: req.allowOtherHost ?? false, update: req.vmmOnly ? 'vmm' : 'kernel' });
  const run = async (plan: Plan, liveBootId: string): Promise<ExecuteResult> => {
    const r = listener.reporter(plan);
    try {
      return await execute({ plan, host, journal, liveBootId, emit: r.emit });
    } finally {
      await r.finish?.();
    }
  };
  try {
    const facts = await obtainFacts(req, profile, host);
    const plan = planFor(phases, facts);
    if (req.dryRun) return { dryRun: plan };
    for (const id of req.markDone ?? []) {
      if (!journal.openRun) throw new LiveupdateError('USAGE', `--mark-done ${id}: no unfinished run in ${journal.file}`);
      if (!plan.steps.some((s) => s.id === id)) throw new LiveupdateError('USAGE', `--mark-done ${id}: no such step in the ${name} plan`);
      journal.append({ t: 'end', id, at: Date.now(), ms: 0, result: 'marked-done' }, true);
    }
    const liveBootId = req.facts ? requireLiveBootId((await host.exec(['cat', '/proc/sys/kernel/random/boot_id'])).stdout, host.name) : facts.bootId;
    listener.planned(plan, host.name);
    const result = await run(plan, liveBootId);
    // a guard failed before the point of no return: put every VM back to running on this kernel now
    const guard = result.failures.map((f) => plan.steps.find((st) => st.id === f.id)).find((st) => st?.abortOnFailure);
    if (guard && phases !== 'abort') {
      listener.autoAbort(guard.id);
      const aborted = await run(planFor('abort', facts), liveBootId);
      return { ...result, aborted: { ok: aborted.ok, failures: aborted.failures } };
    }
    return result;
  } finally {
    journal.close();
    await host.close();
  }
}

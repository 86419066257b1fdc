/**
 * The use case every phase command, the demo and the fleet share: one host's live update. Profile,
 * host, journal, facts, plan, execute; and, when a guard fails before the point of no return, the
 * abort that puts every VM back on the running kernel. The CLI parses flags and picks a reporter;
 * everything between that and the executor is here.
 */
import { LiveupdateError, type Diagnostic } from '../errors.js';
import { execute, executeGuarded, type ExecuteResult } from '../exec/executor.js';
import { stepRef, type Progress } from '../exec/events.js';
import { Journal, journalFile, profileJournal } from '../exec/journal.js';
import { agentOutcome, followAgent, startAgent } from './agent.js';
import { planWithAbort, pointOfNoReturn, type PhaseSelection, type PlanInput } from '../plan/planner.js';
import { boundPlan } from '../plan/saved.js';
import { readSavedPlan } from './saved-plan.js';
import type { Plan } from '../plan/types.js';
import { requireProfile } from '../profile/load.js';
import type { Profile } from '../profile/types.js';
import { REMOTE_JOURNAL_DIR } from '../defaults.js';
import { hostFlag, isLocal, obtainFacts, openHost, requireLiveBootId, type HostOptions } from './hosts.js';
import { machineIdentity } from '../host/host.js';
import type { AgentInstallPreview } from './agent-install.js';

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
  /** hand the plan to the on-host agent and follow the host's journal (app/agent.ts) */
  agent?: boolean;
  /** run exactly this saved plan (`plan --out`), refused when it no longer matches (plan/saved.ts) */
  savedPlan?: string;
  /** --no-install: refuse to put anything on the host; the agent must be there already (this build's) */
  noInstall?: boolean;
  /** plan and run every step even when the host is where the update would take it already */
  force?: boolean;
  /** fleet runs: told which machine the host is (host/host.ts machineIdentity) before anything runs; throws when the run has it already */
  claimMachine?: (identity: string) => void;
}

/**
 * Who runs the steps. With --host the on-host agent does (the default: the host finishes its own
 * update, no control node in the blackout); `--via ssh` keeps the control node driving each step
 * over SSH. On this machine the executor runs in this process unless --agent (or `--via agent`).
 */
export function viaAgent(opts: { remote: boolean; agent?: boolean; via?: string }): boolean {
  if (opts.via !== undefined && opts.via !== 'agent' && opts.via !== 'ssh')
    throw new LiveupdateError('USAGE', `--via ${opts.via}: expected agent or ssh`);
  if (opts.agent && opts.via === 'ssh') throw new LiveupdateError('USAGE', '--agent and --via ssh contradict each other: choose one');
  if (opts.via === 'ssh' && !opts.remote)
    throw new LiveupdateError(
      'USAGE',
      '--via ssh needs --host: on this machine the steps run in this process (or with --agent, by the agent)',
    );
  if (opts.agent || opts.via === 'agent') return true;
  return opts.via === undefined && opts.remote;
}

/** Runs on this machine keep the journal on its disk (it must survive the kexec); remote runs keep it here. */
export function journalFor(opts: { host?: HostOptions['host']; journalDir?: string }, profile: Profile): string {
  return journalFile(opts.journalDir ?? (isLocal(opts.host) ? profile.journal.dir : REMOTE_JOURNAL_DIR), profile.host.name);
}

/** What the use case tells its caller while it runs. */
export interface UpdateListener {
  warn: (d: Diagnostic) => void;
  /** the plan about to run (not the abort plan that follows a failed guard: autoAbort says that) */
  planned: (plan: Plan, host: string) => void;
  /** a guard failed before the point of no return: every VM is being resumed on this kernel */
  autoAbort: (stepId: string) => void;
  /** where one plan's step events go (a terminal's view of that plan closes at its finish) */
  progress: (plan: Plan) => Progress;
  /** Ctrl-C, SIGTERM: with the agent, stop following (the host goes on); otherwise stop between steps, never inside a blackout window (exec/engine.ts) */
  signal?: AbortSignal;
  /** the agent is about to be installed on the host: what is copied, before it is */
  installing?: (preview: AgentInstallPreview) => void;
  /** the plan passes the point of no return: resolve to go on, throw to stop (nothing has changed yet) */
  confirm?: (plan: Plan, host: string) => Promise<void>;
}

/**
 * upToDate: the host is where the update would take it already; nothing ran, no journal was written.
 * detached: the agent runs on; this process stopped following it (Ctrl-C, or the host stayed silent).
 */
export type UpdateOutcome =
  { dryRun: Plan } | { upToDate: Plan } | { detached: { requestId: string; host: string; why: string } } | Executed;
/** A run that ended, and where its journal is: a file on this machine, or HOST:PATH (as `status` says it). */
export type Executed = ExecuteResult & { journal: string };

export const isDryRun = (r: UpdateOutcome): r is { dryRun: Plan } => 'dryRun' in r;
export const isUpToDate = (r: UpdateOutcome): r is { upToDate: Plan } => 'upToDate' in r;
export const isDetached = (r: UpdateOutcome): r is Extract<UpdateOutcome, { detached: unknown }> => 'detached' in r;
export const isExecuted = (r: UpdateOutcome): r is Executed => 'ok' in r;

/** How long a follower waits for a silent host (the kexec, a cut network) before it detaches. */
const followSilenceMs = (profile: Profile): number => profile.kexec.bootTimeoutMs + 120_000;

/** One host through the phases `phases` of its profile's plan, journaled; see the file comment. */
export async function updateHost(
  name: string,
  phases: PhaseSelection,
  req: UpdateRequest,
  listener: UpdateListener,
): Promise<UpdateOutcome> {
  const saved = req.savedPlan ? readSavedPlan(req.savedPlan) : undefined;
  const loaded = requireProfile(req.profile);
  const { warnings, locate } = loaded;
  const profile = req.expectHostname ? { ...loaded.profile, host: { ...loaded.profile.host, name: req.expectHostname } } : loaded.profile;
  for (const w of warnings) listener.warn(w);
  const host = openHost(req);
  const journal = Journal.open(journalFor(req, profile));
  // a saved plan says which update it is; --vmm-only may repeat it, never contradict it
  if (saved && req.vmmOnly && saved.plan.update !== 'vmm')
    throw new LiveupdateError('USAGE', `--vmm-only with --plan ${req.savedPlan}: that plan kexecs a new kernel; make a --vmm-only plan`);
  const update = saved ? saved.plan.update : req.vmmOnly ? 'vmm' : 'kernel';
  const plansFor = (sel: PhaseSelection, facts: PlanInput['facts']): ReturnType<typeof planWithAbort> =>
    planWithAbort({
      profile,
      facts,
      phases: sel,
      locate,
      allowOtherHost: req.allowOtherHost ?? false,
      update,
      // a saved plan made with --force runs as it was made
      force: (req.force ?? false) || saved?.plan.forced !== undefined,
    });
  const run = async (plan: Plan, liveBootId: string): Promise<ExecuteResult> => {
    const r = listener.progress(plan);
    try {
      return await execute({ plan, host, journal, liveBootId, emit: r.emit, ...(listener.signal ? { stop: listener.signal } : {}) });
    } finally {
      await r.finish?.();
    }
  };
  try {
    if (req.claimMachine) req.claimMachine(await machineIdentity(host));
    const facts = await obtainFacts(req, profile, host);
    // the abort plan is what a guard that fails before the point of no return turns to
    const fresh = plansFor(phases, facts);
    const { plan, abortPlan } = saved
      ? boundPlan(req.savedPlan!, saved, { selection: phases, profileSha256: loaded.sha256, ...fresh })
      : fresh;
    if (req.dryRun) return { dryRun: plan };
    if (plan.upToDate && !journal.openRun) return { upToDate: plan };
    if (pointOfNoReturn(plan)) await listener.confirm?.(plan, host.name);
    if (req.agent && req.markDone?.length)
      throw new LiveupdateError(
        'USAGE',
        '--mark-done through the on-host agent: the journal is on the host; run liveupdate resume --mark-done on the host itself (or add --via ssh for a run this control node drove step by step)',
      );
    for (const id of req.markDone ?? []) {
      if (!journal.openRun) throw new LiveupdateError('USAGE', `--mark-done ${id}: no unfinished run in ${journal.file}`);
      const step = plan.steps.find((s) => s.id === id);
      if (!step) throw new LiveupdateError('USAGE', `--mark-done ${id}: no such step in the ${name} plan`);
      journal.append({ type: 'step-end', ...stepRef(step), at: Date.now(), ms: 0, result: 'marked-done' }, true);
    }
    const liveBootId = req.facts
      ? requireLiveBootId((await host.exec(['cat', '/proc/sys/kernel/random/boot_id'])).stdout, host.name)
      : facts.bootId;
    listener.planned(plan, host.name);
    if (req.agent) {
      const journalOnHost = profileJournal(profile);
      const started = await startAgent(host, {
        command: name,
        plan,
        ...(abortPlan ? { abortPlan } : {}),
        ...(req.facts ? {} : { facts }),
        journal: journalOnHost,
        install: { refuse: req.noInstall ?? false, ...(listener.installing ? { onInstall: listener.installing } : {}) },
      });
      const r = listener.progress(plan);
      let followed;
      try {
        followed = await followAgent(host, started.spool, journalOnHost, started.mark, {
          emit: r.emit,
          silenceMs: followSilenceMs(profile),
          ...(listener.signal ? { signal: listener.signal } : {}),
        });
      } finally {
        await r.finish?.();
      }
      if (followed.state === 'detached') return { detached: { requestId: started.requestId, host: host.name, why: followed.why } };
      if (followed.state === 'died') {
        throw new LiveupdateError(
          'AGENT_GONE',
          `${host.name}: ${followed.why}; the journal on the host (${journalOnHost}) says how far it got${followed.log ? `; its log ends: ${followed.log.split('\n').join(' / ')}` : ''}`,
          {
            hint: `see 'liveupdate status --profile ${req.profile}${hostFlag(req.host)}', then run the same command again: it continues from the journal`,
          },
        );
      }
      return { ...agentOutcome(followed.result), journal: `${host.name}:${journalOnHost}` };
    }
    return { ...(await executeGuarded(plan, abortPlan, (p) => run(p, liveBootId), listener.autoAbort)), journal: journal.file };
  } finally {
    journal.close();
    await host.close();
  }
}

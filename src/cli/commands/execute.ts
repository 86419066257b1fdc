/**
 * The phase commands (prepare, suspend, kexec, resume, run), abort, status (app/status.ts) and `host install|uninstall`:
 * flags into an UpdateRequest for the use case (src/app/update.ts), its outcome to the reporter.
 */
import { EXIT, LiveupdateError } from '../../errors.js';
import { cliListener } from '../listener.js';
import { Journal, jumped, pending, profileJournal, readRemoteJournal, replay } from '../../exec/journal.js';
import type { Host } from '../../host/host.js';
import { followAgent, latestRequest } from '../../app/agent.js';
import { agentInstallPreview, describeInstall, installAgent, uninstallAgent } from '../../app/agent-install.js';
import { hostFlag, isLocal, openHost, type HostOptions } from '../../app/hosts.js';
import { pointOfNoReturn, type PhaseSelection } from '../../plan/planner.js';
import { requireProfile } from '../../profile/load.js';
import { isDetached, isDryRun, isUpToDate, journalFor, updateHost, viaAgent, type UpdateRequest } from '../../app/update.js';
import { runView } from '../../report/views/run.js';
import { statusView, type StatusView } from '../../report/views/status.js';
import { hostStatus } from '../../app/status.js';
import { onInterrupt } from '../interrupt.js';
import { confirmOrRefuse } from '../confirm.js';
import { readSavedPlan } from '../../app/saved-plan.js';
import type { Plan } from '../../plan/types.js';
import type { Reporter } from '../../report/reporter.js';
import type { CommandContext } from '../context.js';

export type PhaseOpts = Omit<UpdateRequest, 'profile'> & {
  profile?: string;
  via?: string;
  plan?: string;
  yes?: boolean;
  phase?: string;
  /** the older spelling of --phase, still read */
  phases?: string;
  /** false: --no-install */
  install?: boolean;
};
export type StatusOpts = UpdateRequest & { follow?: boolean };
export type HostCommandOpts = UpdateRequest;

const PHASES: Record<string, PhaseSelection> = { prepare: 'prepare', suspend: 'suspend', kexec: 'kexec', resume: 'resume', run: 'all' };

async function runPhases(
  name: string,
  phases: PhaseSelection,
  opts: UpdateRequest & { yes?: boolean },
  out: Reporter,
  setExit: (c: number) => void,
): Promise<void> {
  const view = runView(out);
  // the first Ctrl-C (or SIGTERM): following the agent, detach; driving the steps here, stop between
  // steps, never inside a blackout window; a second one exits at once (cli/interrupt.ts)
  const stop = new AbortController();
  const off = onInterrupt(() => {
    stop.abort('interrupted');
    if (!opts.agent) view.interrupted();
  });
  let result;
  try {
    const confirm = (plan: Plan, host: string): Promise<void> => {
      const jump = pointOfNoReturn(plan)!;
      const what = `${host}: '${name}' passes the point of no return at ${jump.id} (the jump into the staged kernel); after it ${plan.vms.length ? `the VMs (${plan.vms.map((v) => v.name).join(', ')}) resume only on the new kernel` : 'abort cannot undo it'}`;
      const review = `review first: liveupdate plan --profile ${opts.profile}${hostFlag(opts.host)} --out PLAN, then liveupdate ${name} --plan PLAN --yes`;
      return confirmOrRefuse(out, opts.yes, what, review);
    };
    result = await updateHost(name, phases, opts, { ...cliListener((d) => out.warn(d), view), signal: stop.signal, confirm });
  } finally {
    off();
  }
  if (isDetached(result)) {
    view.detached(name, result.detached, `liveupdate status --follow --profile ${opts.profile}${hostFlag(opts.host)}`);
    setExit(EXIT.detached);
    return;
  }
  if (isDryRun(result)) return view.dryRun(result.dryRun);
  if (isUpToDate(result)) return view.upToDate(name, result.upToDate);
  view.done(name, result);
  if (!result.ok) setExit(failedExit(result));
}

/**
 * A run that failed: interrupted; nothing left changed (no step that changes the host finished, or a
 * guard's abort put the VMs back); or stopped part-way with its state kept (an older agent that does
 * not say is taken to have changed the host: `status` tells).
 */
export function failedExit(r: { failures: Array<{ code: string }>; changed?: boolean; aborted?: { ok: boolean } }): number {
  if (r.failures.some((f) => f.code === 'INTERRUPTED')) return EXIT.interrupted;
  if (r.aborted?.ok || r.changed === false) return EXIT.error;
  return EXIT.stopped;
}

/** prepare, suspend, kexec, resume, run. */
export function phase(name: string, opts: PhaseOpts, { out, setExit }: CommandContext): Promise<void> {
  const { plan: savedPlan, phase, phases, install, ...rest } = opts;
  if (phases !== undefined) {
    if (phase !== undefined && phase !== 'all' && phase !== phases)
      throw new LiveupdateError('USAGE', `--phase ${phase} and --phases ${phases} say two things: give --phase alone`);
    out.warn({ field: '--phases', message: `--phases is now spelt --phase (run --phase ${phases}), as plan spells it` });
  }
  const which = phases ?? phase;
  if (which !== undefined && which !== 'all' && which !== 'update')
    throw new LiveupdateError('USAGE', `--phase ${which}: run takes all or update (plan --phase names a single phase)`);
  // with --plan the profile is the one the plan was made from, unless named
  const profile = opts.profile ?? (savedPlan ? readSavedPlan(savedPlan).profile.path : undefined);
  if (!profile)
    throw new LiveupdateError(
      'USAGE',
      "required option '--profile <file>' not specified (or --plan FILE, a plan saved with liveupdate plan --out)",
    );
  return runPhases(
    name,
    which === 'update' ? 'update' : PHASES[name]!,
    {
      ...rest,
      profile,
      ...(savedPlan ? { savedPlan } : {}),
      ...(install === false ? { noInstall: true } : {}),
      agent: viaAgent({ ...opts, remote: !isLocal(opts.host) }),
    },
    out,
    setExit,
  );
}

export async function abort(given: PhaseOpts & { profile: string }, { out, setExit }: CommandContext): Promise<void> {
  const opts = { ...given, agent: viaAgent({ ...given, remote: !isLocal(given.host) }) };
  const { profile } = requireProfile(opts.profile);
  // the journal of an agent's run is on the host
  const records = opts.agent
    ? await withHost(opts, (h) => readRemoteJournal(h, profileJournal(profile)))
    : Journal.read(journalFor(opts, profile));
  const state = replay(records);
  const run = state && !state.finished ? state : undefined;
  const jump = jumped(run);
  if (run && jump) {
    const unfinished = pending(run);
    throw new LiveupdateError(
      'STEP_FAILED',
      `past the point of no return: kexec -e ran at ${new Date(jump.at).toISOString()} (from boot ${jump.bootId ?? '?'}); the old kernel is gone and abort cannot resume the VMs on it`,
      {
        hint: `the VMs' RAM and device state are kept; 'liveupdate resume --profile ${opts.profile}${hostFlag(opts.host)}' restores them on the new kernel${unfinished.length ? ` (unfinished: ${unfinished.join(', ')})` : ''}`,
      },
    );
  }
  await runPhases('abort', 'abort', opts, out, setExit);
}

export async function status(opts: StatusOpts, { out }: CommandContext): Promise<void> {
  const view = statusView(out);
  view.result(await hostStatus(opts, opts.follow ? (host, journal) => followLatest(host, journal, opts, view) : undefined));
}

export async function hostInstall(opts: HostCommandOpts & { dryRun?: boolean }, { out }: CommandContext): Promise<void> {
  await withHost(opts, async (host) => {
    if (opts.dryRun) {
      const preview = await agentInstallPreview(host);
      const files = preview.files.map((f) => `  ${f.present ? 'there  ' : 'copy   '} ${f.path} (${f.bytes} bytes): ${f.what}`);
      const unit = preview.unit ? [`  ${preview.unit.present ? 'there  ' : 'write  '} ${preview.unit.path}, enabled`] : [];
      out.result(
        [`would install on ${host.name}: ${describeInstall(preview)}`, ...files, ...unit, 'nothing was changed'].join('\n') + '\n',
        { type: 'install', host: host.name, dryRun: true, preview },
      );
      return;
    }
    const r = await installAgent(host, { onInstall: (p) => out.say(`installing on ${host.name}: ${describeInstall(p)}`) });
    const lines = [
      `agent: ${host.name}:${r.bin}`,
      `runtime: ${r.runtime}${r.preview?.runtime.hosts ? ` (the host's own Node ${r.preview.runtime.version})` : ''}`,
      `helper: ${r.helper}`,
      `boot-time resume: ${r.unit ? `${r.unit} (enabled)` : "no systemd here: the host's init runs liveupdate-agent boot (see docs/commands.md)"}`,
    ];
    out.result(lines.join('\n') + '\n', { type: 'install', host: host.name, ...r });
  });
}

export async function hostUninstall(opts: HostCommandOpts & { profile: string; purge?: boolean }, { out }: CommandContext): Promise<void> {
  const { profile } = requireProfile(opts.profile);
  await withHost(opts, async (host) => {
    const { removed, kept } = await uninstallAgent(host, profileJournal(profile), { purge: opts.purge ?? false });
    const lines = [
      ...(removed.length ? removed.map((p) => `removed ${host.name}:${p}`) : [`nothing of the agent on ${host.name}`]),
      ...(kept.length
        ? [`left on ${host.name}: ${kept.join(', ')}${opts.purge ? '' : ' (the record of its runs: --purge removes it)'}`]
        : [`nothing of liveupdate is left on ${host.name}`]),
    ];
    out.result(lines.join('\n') + '\n', { type: 'uninstall', host: host.name, removed, kept });
  });
}

async function withHost<T>(opts: UpdateRequest, fn: (h: Host) => Promise<T>): Promise<T> {
  const h = openHost(opts);
  try {
    return await fn(h);
  } finally {
    await h.close();
  }
}

/** status --follow: the newest request on the host, drawn until its result (or Ctrl-C). */
async function followLatest(
  host: Host,
  journal: string,
  opts: { profile: string; host?: HostOptions['host'] },
  view: StatusView,
): Promise<void> {
  const latest = await latestRequest(host);
  if (!latest) throw new LiveupdateError('USAGE', `${host.name}: no run of the agent there to follow`);
  if (latest.result) return;
  const stop = new AbortController();
  const off = onInterrupt(() => stop.abort());
  try {
    const { emit } = view.following();
    const f = await followAgent(
      host,
      latest.spool,
      journal,
      { inode: 'follow', offset: 0 },
      { emit, silenceMs: 600_000, signal: stop.signal },
    );
    if (f.state === 'detached')
      view.stoppedFollowing(
        `stopped following (${f.why}); the run goes on: liveupdate status --follow --profile ${opts.profile}${hostFlag(opts.host)}`,
      );
    if (f.state === 'died') view.stoppedFollowing(`${f.why}${f.log ? `; its log ends:\n${f.log}` : ''}`);
  } finally {
    off();
  }
}

/** `liveupdate plan`: profile, facts (probed or saved), the plan, shown; nothing changes. */
import { EXIT, LiveupdateError } from '../../errors.js';
import { resolve } from 'node:path';
import { readSavedPlan, writeSavedPlan } from '../../app/saved-plan.js';
import { makePlan, pendingChanges, planWithAbort, type PhaseSelection } from '../../plan/planner.js';
import { commandFor, savePlan } from '../../plan/saved.js';
import { requireProfile } from '../../profile/load.js';
import { renderPlan } from '../../report/plan-text.js';
import { readFactsFile } from '../../facts/file.js';
import { PHASE_CHOICES, type CommandContext } from '../context.js';
import type { HostFacts } from '../../facts/types.js';
import type { Host } from '../../host/host.js';

export interface PlanOpts {
  profile: string;
  facts?: string;
  host?: string;
  identity?: string;
  knownHosts?: string;
  acceptNewHostKey?: boolean;
  vmmOnly?: boolean;
  phase: string;
  allowOtherHost?: boolean;
  detailedExitcode?: boolean;
  force?: boolean;
  out?: string;
}

function parsePhase(p: string): PhaseSelection {
  if (!PHASE_CHOICES.includes(p)) throw new LiveupdateError('USAGE', `--phase ${p}: must be one of ${PHASE_CHOICES.join(', ')}`);
  return p as PhaseSelection;
}

export async function plan(opts: PlanOpts, ctx: CommandContext): Promise<void> {
  const phases = parsePhase(opts.phase);
  const loaded = requireProfile(opts.profile);
  for (const w of loaded.warnings) ctx.out.warn(w);
  // from a file, nothing of SSH or the host probe is loaded (bench:cli); a remote host is asked once for
  // its facts and for what of the agent it has
  const remote = opts.host !== undefined && !['local', 'localhost'].includes(opts.host);
  const hosts = opts.facts && !remote ? undefined : await import('../../app/hosts.js');
  const host = remote ? hosts!.openHost(opts) : undefined;
  try {
    const facts = opts.facts ? await readFactsFile(opts.facts) : await hosts!.obtainFacts(opts, loaded.profile, host);
    await planAndShow(opts, phases, loaded, facts, host, ctx);
  } finally {
    await host?.close();
  }
}

async function planAndShow(
  opts: PlanOpts,
  phases: PhaseSelection,
  { profile, locate, sha256 }: ReturnType<typeof requireProfile>,
  facts: HostFacts,
  host: Host | undefined,
  { out, setExit }: CommandContext,
): Promise<void> {
  const input = {
    profile,
    facts,
    phases,
    locate,
    allowOtherHost: opts.allowOtherHost ?? false,
    update: opts.vmmOnly ? ('vmm' as const) : ('kernel' as const),
    force: opts.force ?? false,
  };
  // saved with the abort plan a run would make from these facts
  const { plan: p, abortPlan } = opts.out ? planWithAbort(input) : { plan: makePlan(input), abortPlan: undefined };
  if (opts.out) writeSavedPlan(opts.out, savePlan(p, abortPlan, phases, resolve(opts.profile), sha256, new Date()));
  const saved = opts.out
    ? `\nsaved to ${opts.out}: 'liveupdate ${commandFor(phases)} --plan ${opts.out}${opts.host ? ` --host ${opts.host}` : ''}' runs exactly this plan, and refuses it if the profile, the host's boot or its facts have changed\n`
    : '';
  // what `run --host` puts on the host before the plan runs (the agent; nothing when there is nothing to do)
  const agent = host && !p.upToDate ? await import('../../app/agent-install.js') : undefined;
  const install = agent && host ? await agent.agentInstallPreview(host) : undefined;
  const installText = !install
    ? ''
    : install.current
      ? `\non ${install.host}, liveupdate's agent is this build's: run installs nothing\n`
      : `\nbefore it runs, run --host installs liveupdate's agent on ${install.host}: ${agent!.describeInstall(install)} (--no-install refuses; host uninstall removes it)\n`;
  out.result(renderPlan(p, { color: out.color }) + installText + saved, {
    type: 'plan',
    ...p,
    ...(opts.out ? { savedTo: opts.out } : {}),
    ...(install ? { agentInstall: install } : {}),
  });
  // 0: nothing would change the host (the checks every phase runs change nothing); 2: something would
  if (opts.detailedExitcode) setExit(pendingChanges(p).length ? EXIT.pending : EXIT.ok);
}

/** `liveupdate show PLANFILE`: a saved plan as `plan` printed it, with what it was made from and the command that runs it. */
export function show(file: string, { out }: CommandContext): void {
  const saved = readSavedPlan(file);
  const p = saved.plan;
  const head = [
    `saved plan ${file}: made ${saved.createdAt} from ${saved.profile.path} (sha256 ${saved.profile.sha256.slice(0, 12)}),`,
    `for host ${p.facts.hostname} in its boot ${p.facts.bootId} (facts of ${p.facts.collectedAt})`,
    `runs with: liveupdate ${commandFor(saved.selection)} --plan ${file} [--host TARGET], refused if the profile, the host's boot or its facts changed since`,
    ...(saved.abortPlan
      ? [`if a guard fails before the point of no return: the saved abort plan (${saved.abortPlan.steps.length} steps)`]
      : []),
    '',
  ].join('\n');
  out.result(head + renderPlan(p, { color: out.color }), saved);
}

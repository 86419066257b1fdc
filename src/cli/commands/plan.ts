/** `liveupdate plan`: profile, facts (probed or saved), the plan, shown; nothing changes. */
import { EXIT, LiveupdateError } from '../../errors.js';
import { makePlan, pendingChanges, type PhaseSelection } from '../../plan/planner.js';
import { requireProfile } from '../../profile/load.js';
import { renderPlan } from '../../report/plan-text.js';
import { readFactsFile } from '../../facts/file.js';
import { PHASE_CHOICES, type CommandContext } from '../context.js';

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
}

function parsePhase(p: string): PhaseSelection {
  if (!PHASE_CHOICES.includes(p)) throw new LiveupdateError('USAGE', `--phase ${p}: must be one of ${PHASE_CHOICES.join(', ')}`);
  return p as PhaseSelection;
}

export async function plan(opts: PlanOpts, { out: o, setExit }: CommandContext): Promise<void> {
  const phases = parsePhase(opts.phase);
  const { profile, warnings, locate } = requireProfile(opts.profile);
  for (const w of warnings) o.warn(w);
  // from a file, nothing of SSH or the host probe is loaded (bench:cli)
  const facts = opts.facts ? await readFactsFile(opts.facts) : await (await import('../../app/hosts.js')).obtainFacts(opts, profile);
  const p = makePlan({ profile, facts, phases, locate, allowOtherHost: opts.allowOtherHost ?? false, update: opts.vmmOnly ? 'vmm' : 'kernel' });
  o.result(renderPlan(p, { color: o.color }), { type: 'plan', ...p });
  // 0: nothing would change the host (the checks every phase runs change nothing); 2: something would
  if (opts.detailedExitcode) setExit(pendingChanges(p).length ? EXIT.pending : EXIT.ok);
}

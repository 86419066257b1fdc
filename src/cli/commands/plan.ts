import type { Command } from 'commander';
import { EXIT, LiveupdateError } from '../../errors.js';
import { makePlan, type PhaseSelection } from '../../plan/planner.js';
import { requireProfile } from '../../profile/load.js';
import { renderPlan } from '../../report/plan-text.js';
import { obtainFacts } from '../../app/hosts.js';
import type { Reporter } from '../../report/reporter.js';

const PHASE_CHOICES = ['prepare', 'suspend', 'kexec', 'resume', 'abort', 'all'];

export function parsePhase(p: string): PhaseSelection {
  if (!PHASE_CHOICES.includes(p)) throw new LiveupdateError('USAGE', `--phase ${p}: must be one of ${PHASE_CHOICES.join(', ')}`);
  return p as PhaseSelection;
}

export function registerPlan(program: Command, out: () => Reporter, setExit: (code: number) => void): void {
  program
    .command('plan')
    .description('show every command, file, ioctl and QMP message a live update would issue; changes nothing')
    .requiredOption('--profile <file>', 'host profile YAML')
    .option('--facts <file>', 'plan from saved facts (liveupdate facts --json) instead of probing this host')
    .option('--host <target>', 'user@addr[:port]; default: this machine')
    .option('--identity <file>', 'SSH private key')
    .option('--known-hosts <file>', 'known_hosts to verify the host key against')
    .option('--accept-new-host-key', 'trust and record an unknown host key')
    .option('--vmm-only', 'restart the VMMs on the running kernel instead of a kexec')
    .option('--phase <phase>', `one of ${PHASE_CHOICES.join(', ')}`, 'all')
    .option('--allow-other-host', "plan even when the facts' hostname differs from the profile's host.name")
    .option('--detailed-exitcode', 'exit 0 when nothing is left to do, 2 when steps are pending, 1 on error')
    .action(async (opts: { profile: string; facts?: string; host?: string; identity?: string; knownHosts?: string; acceptNewHostKey?: boolean; vmmOnly?: boolean; phase: string; allowOtherHost?: boolean; detailedExitcode?: boolean }) => {
      const o = out();
      const phases = parsePhase(opts.phase);
      const { profile, warnings, locate } = requireProfile(opts.profile);
      for (const w of warnings) o.warn(w);
      const facts = await obtainFacts(opts, profile);
      const plan = makePlan({ profile, facts, phases, locate, allowOtherHost: opts.allowOtherHost ?? false, update: opts.vmmOnly ? 'vmm' : 'kernel' });
      o.result(renderPlan(plan, { color: o.color }), plan);
      if (opts.detailedExitcode) setExit(plan.steps.some((s) => !s.satisfied) ? EXIT.pending : EXIT.ok);
    });
}

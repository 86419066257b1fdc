import { LiveupdateError, type Diagnostic } from '../errors.js';
import { Findings } from '../profile/rules.js';
import { modesNotTaken } from '../qemu/mode.js';
import type { HostFacts } from '../facts/types.js';
import { domainsTheKexecEnds, factRules } from './rules.js';
import type { Locate, Profile } from '../profile/types.js';
import { buildContext, type PlanContext } from './context.js';
import { abortPhase } from './phases/abort.js';
import { kexecPhase } from './phases/kexec.js';
import { preparePhase } from './phases/prepare.js';
import { resumePhase } from './phases/resume.js';
import { suspendPhase } from './phases/suspend.js';
import { PHASES, PLAN_FORMAT_VERSION, type Check, type Phase, type Plan, type PlanDomain, type Step } from './types.js';
import { saveImage } from './phases/libvirt.js';
import { readDomainXml } from '../facts/domain-xml.js';
import { formatSize } from '../units.js';
import { upToDate } from './converged.js';

const BUILDERS: Record<Phase, (ctx: PlanContext) => Step[]> = {
  prepare: preparePhase,
  suspend: suspendPhase,
  kexec: kexecPhase,
  resume: resumePhase,
  abort: abortPhase,
};

/** all: prepare through resume; update: suspend, kexec, resume on a host prepared earlier */
export type PhaseSelection = Phase | 'all' | 'update';

export function selectedPhases(sel: PhaseSelection): Phase[] {
  return sel === 'all' ? [...PHASES] : sel === 'update' ? ['suspend', 'kexec', 'resume'] : [sel];
}

export interface PlanInput {
  profile: Profile;
  facts: HostFacts;
  phases: PhaseSelection;
  locate: Locate;
  /** plan for facts whose hostname differs from the profile's host.name */
  allowOtherHost?: boolean;
  /** kernel: the full live update; vmm: new VMMs on the running kernel (no kexec): cpr-transfer or stop/save/restart per VM */
  update?: 'kernel' | 'vmm';
  /** plan every step even when the host is where the update would take it already (plan/converged.ts) */
  force?: boolean;
}

/** Pure: (profile, facts, phase) -> Plan. Throws PLAN_INVALID with every rule that failed. */
export function makePlan(input: PlanInput): Plan {
  const { profile, facts } = input;
  if (!input.allowOtherHost && facts.hostname !== profile.host.name) {
    throw new LiveupdateError(
      'FACTS_MISMATCH',
      `the facts are from host '${facts.hostname}' but ${profile.file} is for '${profile.host.name}'; nothing was done`,
      {
        hint: 'gather facts on the right host, or pass --allow-other-host to plan anyway',
      },
    );
  }
  const rules = factRules(profile, facts, input.locate);
  if (rules.errors.length) {
    throw new LiveupdateError(
      'PLAN_INVALID',
      `${profile.file} cannot be applied to ${facts.hostname}: ${rules.errors.length} problem${rules.errors.length === 1 ? '' : 's'}; nothing was done`,
      {
        diagnostics: rules.errors,
      },
    );
  }
  // a VMM-only update is the phase builders' input: they leave out every kernel step themselves
  const ctx = buildContext(profile, facts, input.update ?? 'kernel');
  const phases = selectedPhases(input.phases);
  // refused before anything stops: a restore the QEMU that restores cannot be trusted with
  const upgrades = phases.some((ph) => ph !== 'prepare') ? upgradeRefusals(ctx, input.locate) : [];
  if (upgrades.length) {
    throw new LiveupdateError(
      'PLAN_INVALID',
      `${profile.file} cannot be applied to ${facts.hostname}: ${upgrades.length} VM${upgrades.length === 1 ? '' : 's'} cannot move to the QEMU that would restore ${upgrades.length === 1 ? 'it' : 'them'}; nothing was done`,
      { diagnostics: upgrades },
    );
  }
  // and a kexec that would end VMs the profile does not name
  const unnamed = ctx.update === 'kernel' && phases.includes('kexec') ? domainsTheKexecEnds(profile, facts, input.locate) : [];
  if (unnamed.length) {
    throw new LiveupdateError(
      'PLAN_INVALID',
      `${profile.file} cannot be applied to ${facts.hostname}: its kexec would end domains the profile does not name; nothing was done`,
      { diagnostics: unnamed },
    );
  }
  // a host where the update would take it already: nothing to do (a whole update only: a single phase
  // is a step of one begun, which the journal drives)
  const already = input.phases === 'all' || input.phases === 'update' ? upToDate(ctx) : undefined;
  const converged = input.force ? undefined : already;
  const steps = converged ? [] : phases.flatMap((ph) => BUILDERS[ph](ctx)).map((st) => markSatisfied(st, facts));
  const ids = new Set<string>();
  for (const st of steps) {
    if (ids.has(st.id)) throw new Error(`planner bug: duplicate step id ${st.id}`);
    ids.add(st.id);
  }
  // each domain's XML read once, for the plan's list and its notes
  const domains = planDomains(ctx);
  return {
    formatVersion: PLAN_FORMAT_VERSION,
    host: profile.host.name,
    profile: profile.file,
    backend: profile.persistence.backend,
    facts: { hostname: facts.hostname, bootId: facts.bootId, kernelRelease: facts.kernelRelease, collectedAt: facts.collectedAt },
    phases,
    update: input.update ?? 'kernel',
    ...(ctx.carveOut
      ? {
          carveOut: {
            start: ctx.carveOut.range.start,
            size: ctx.carveOut.range.size,
            active: ctx.carveOut.active,
            cmdline: ctx.bootParams,
          },
        }
      : {}),
    kexecCmdline: ctx.kexecCmdline,
    vms: ctx.vms.map((v) => ({
      name: v.spec.name,
      migrationMode: v.mode,
      modeWhy: v.modeWhy,
      notTaken: modesNotTaken(ctx.update, v.from.version, v.to.version, v.mode, v.cprWhyNot),
      stateFile: v.stateFile,
      ramPath: v.ramPath,
      qmp: v.spec.qmp,
      pidfile: v.spec.pidfile,
      qemuVersion: v.from.version,
      qemu: { from: v.from, to: v.to, upgrade: v.upgrade?.why },
      ...(v.running === undefined ? {} : { running: v.running }),
    })),
    ...(ctx.profile.libvirt ? { domains } : {}),
    steps,
    ...(converged ? { upToDate: converged } : {}),
    ...(input.force && already ? { forced: already } : {}),
    warnings: rules.warnings,
    notes: [
      ...ctx.vms.map((v) => `${v.spec.name}: migration ${v.mode} (${v.modeWhy})`),
      ...domains.map(
        (d) =>
          `${d.name}: libvirt domain, RAM copied (${d.memory !== undefined ? formatSize(d.memory) : 'size unknown'} written into ${d.saveImage} while it is paused, read back at restore: the blackout grows with its RAM)`,
      ),
      ...ctx.notes,
    ],
  };
}

function planDomains(ctx: PlanContext): PlanDomain[] {
  const lv = ctx.profile.libvirt;
  return (lv?.domains ?? []).map((name) => ({
    name,
    ram: lv!.ram,
    saveImage: saveImage(ctx, name),
    memory: readDomainXml(ctx.facts.libvirt?.domains.find((d) => d.name === name)?.xml ?? '').memory,
  }));
}

/** Each VM whose restoring QEMU may not load what its running QEMU saves, at the profile field to change. */
function upgradeRefusals(ctx: PlanContext, locate: Locate): Diagnostic[] {
  const f = new Findings(locate);
  ctx.vms.forEach((v, i) => {
    if (!v.upgrade || v.upgrade.ok) return;
    const field =
      v.upgrade.change === 'machine' ? 'machine' : v.spec.qemu.restoreBinary !== v.spec.qemu.binary ? 'restoreBinary' : 'binary';
    f.error(
      ['vms', i, 'qemu', field],
      `${v.spec.name}: QEMU ${v.from.version} (${v.from.binary}) -> ${v.to.version} (${v.to.binary}) refused: ${v.upgrade.why}`,
    );
  });
  return f.errors;
}

/** What the facts alone prove done; everything else is checked by the executor at run time. */
export function factsSatisfy(check: Check | null, facts: HostFacts): string | undefined {
  if (!check) return undefined;
  switch (check.kind) {
    case 'cmdline-has': {
      const words = new Set(facts.cmdline.split(/\s+/));
      return check.params.every((p) => words.has(p)) ? 'the running cmdline already has these params' : undefined;
    }
    case 'mounted':
      return facts.mounts.some((m) => m.target === check.target && m.fstype === check.fstype)
        ? `${check.target} is mounted (${check.fstype})`
        : undefined;
    case 'pci-driver':
      return facts.pci.find((d) => d.address === check.address)?.driver === check.driver
        ? `${check.address} is bound to ${check.driver}`
        : undefined;
    case 'pmem-mode':
      return facts.pmem.some((d) => `/dev/${d.name}` === check.device && d.mode === check.mode)
        ? `${check.device} is already ${check.mode}`
        : undefined;
    default:
      return undefined;
  }
}

/** Facts describe this boot: they can only prove steps that run before the kexec. */
const THIS_BOOT: ReadonlySet<Phase> = new Set(['prepare', 'suspend', 'abort']);

function markSatisfied(step: Step, facts: HostFacts): Step {
  if (!THIS_BOOT.has(step.phase)) return step;
  const why = factsSatisfy(step.check, facts);
  return why ? { ...step, satisfied: why } : step;
}

/** The step past which abort cannot resume the VMs on this kernel, when running this plan would take it. */
export function pointOfNoReturn(plan: Plan): Step | undefined {
  return plan.steps.find((s) => s.pointOfNoReturn && !s.satisfied);
}

/** The plan, and the abort plan a failed guard turns to, made from the same facts (none for an abort). */
export function planWithAbort(input: PlanInput): { plan: Plan; abortPlan: Plan | undefined } {
  return { plan: makePlan(input), abortPlan: input.phases === 'abort' ? undefined : makePlan({ ...input, phases: 'abort' }) };
}

/** The steps that would change the host: not shown done by the facts, and not a check alone (a verify step changes nothing). */
export function pendingChanges(plan: Plan): Step[] {
  return plan.steps.filter((s) => !s.satisfied && s.kind !== 'verify');
}

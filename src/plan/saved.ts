/**
 * A plan saved for review (`plan --out FILE`) and run later exactly as saved (`run --plan FILE`), the
 * way Terraform applies a saved plan. It is bound to what it was made from: the profile's bytes (by
 * sha256), the host's boot and its facts (by planning again from the facts the run has, probed or
 * --facts: the saved plan runs only when that gives exactly it). Pure: the caller reads the files
 * and probes the host.
 */
import { LiveupdateError } from '../errors.js';
import type { PhaseSelection } from './planner.js';
import type { Plan } from './types.js';

export const SAVED_PLAN_FORMAT_VERSION = 1;

export interface SavedPlan {
  type: 'saved-plan';
  formatVersion: typeof SAVED_PLAN_FORMAT_VERSION;
  createdAt: string;
  /** the profile it was made from, and its bytes' sha256 */
  profile: { path: string; sha256: string };
  /** what `--phase` asked for: the command that runs it must ask for the same */
  selection: PhaseSelection;
  plan: Plan;
  /** what runs when a guard fails before the point of no return, made from the same facts */
  abortPlan?: Plan;
}

/** `profilePath` absolute: `run --plan` without --profile finds it from anywhere. */
export function savePlan(
  plan: Plan,
  abortPlan: Plan | undefined,
  selection: PhaseSelection,
  profilePath: string,
  profileSha256: string,
  now: Date,
): SavedPlan {
  return {
    type: 'saved-plan',
    formatVersion: SAVED_PLAN_FORMAT_VERSION,
    createdAt: now.toISOString(),
    profile: { path: profilePath, sha256: profileSha256 },
    selection,
    plan,
    ...(abortPlan ? { abortPlan } : {}),
  };
}

/** The command that runs a plan of this `--phase`. */
export const commandFor = (sel: PhaseSelection): string => (sel === 'all' ? 'run' : sel === 'update' ? 'run --phase update' : sel);

/**
 * The saved plan, when the profile is the same file and planning again now gives exactly it (its
 * facts' collection time aside); otherwise PLAN_STALE naming the first thing that differs.
 */
export function boundPlan(
  file: string,
  saved: SavedPlan,
  now: { selection: PhaseSelection; profileSha256: string; plan: Plan; abortPlan: Plan | undefined },
): SavedPlan {
  const stale = (message: string): LiveupdateError =>
    new LiveupdateError('PLAN_STALE', `${file}: ${message}; nothing was done`, {
      hint: `review a new plan (liveupdate plan --profile ${saved.profile.path}${saved.selection === 'all' ? '' : ` --phase ${saved.selection}`}${saved.plan.update === 'vmm' ? ' --vmm-only' : ''} --out ${file}) and run that; to continue a run the journal has begun, run the command without --plan`,
    });
  if (now.selection !== saved.selection) {
    throw new LiveupdateError(
      'USAGE',
      `${file} is a plan of --phase ${saved.selection}: run it with 'liveupdate ${commandFor(saved.selection)} --plan ${file}'`,
    );
  }
  if (now.profileSha256 !== saved.profile.sha256)
    throw stale(
      `the profile ${saved.profile.path} changed since this plan was made (sha256 ${saved.profile.sha256.slice(0, 12)} then, ${now.profileSha256.slice(0, 12)} now)`,
    );
  const [was, is] = [saved.plan.facts, now.plan.facts];
  if (was.hostname !== is.hostname) throw stale(`it was made for host ${was.hostname}, this host is ${is.hostname}`);
  if (was.bootId !== is.bootId) throw stale(`the host has booted since this plan was made (boot ${was.bootId} then, ${is.bootId} now)`);
  const d =
    firstDifference(comparable(saved.plan), comparable(now.plan), '') ??
    firstDifference(comparable(saved.abortPlan), comparable(now.abortPlan), 'abortPlan');
  if (d) throw stale(`the host changed since this plan was made: planning again now gives ${describe(d, saved.plan)}`);
  return saved;
}

/**
 * A plan as JSON holds it (no undefined), without what differs between two plans of the same input:
 * the facts' collection time, and the profile's path (its identity is its sha256; a reviewer may
 * have written it relative, the run absolute).
 */
function comparable(plan: Plan | undefined): unknown {
  if (!plan) return null;
  const copy = JSON.parse(JSON.stringify(plan)) as Plan;
  copy.facts.collectedAt = '';
  copy.profile = '';
  copy.warnings = copy.warnings.map(({ where: _, ...d }) => d);
  return copy;
}

/** What a reader should hear of first when two plans differ: what runs before what explains it. */
const FIRST = ['facts', 'steps', 'vms', 'carveOut', 'kexecCmdline'];
const byWeight = (a: string, b: string): number => (FIRST.indexOf(a) + 1 || 99) - (FIRST.indexOf(b) + 1 || 99) || a.localeCompare(b);

interface Difference {
  path: string;
  then: unknown;
  now: unknown;
}

function firstDifference(a: unknown, b: unknown, path: string): Difference | undefined {
  if (a === b) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b))
    return { path, then: a, now: b };
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return a.length === b.length ? undefined : { path: `${path}.length`, then: a.length, now: b.length };
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k of [...new Set([...Object.keys(ra), ...Object.keys(rb)])].sort(byWeight)) {
    const d = firstDifference(ra[k], rb[k], path ? `${path}.${k}` : k);
    if (d) return d;
  }
  return undefined;
}

/** `steps[4] (prepare/mount-pmem) satisfied: "..." then, none now`: the step named by its id. */
function describe(d: Difference, plan: Plan): string {
  const show = (v: unknown): string => (v === undefined ? 'none' : JSON.stringify(v).slice(0, 160));
  const step = /^steps\[(\d+)\]/.exec(d.path);
  const id = step ? plan.steps[Number(step[1])]?.id : undefined;
  return `${d.path}${id ? ` (${id})` : ''}: ${show(d.now)} where the saved plan has ${show(d.then)}`;
}

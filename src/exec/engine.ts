import { LiveupdateError } from '../errors.js';
import type { Step } from '../plan/types.js';
import { stepRef, type ExecEvent } from './events.js';
import { hostShows } from './runners/conditions.js';
import type { RunEnv } from './runners/env.js';
import { runStep } from './runners/step.js';

export interface EngineResult {
  ok: boolean;
  failures: Array<{ step: Step; error: LiveupdateError }>;
}

/** Steps in order; a run of steps sharing a `group` runs one lane per VM, lanes concurrently. */
export async function runSteps(
  steps: Step[],
  env: RunEnv,
  emit: (e: ExecEvent) => void,
  now: () => number = () => performance.timeOrigin + performance.now(),
): Promise<EngineResult> {
  const failures: EngineResult['failures'] = [];
  let i = 0;
  while (i < steps.length) {
    const first = steps[i]!;
    let j = i + 1;
    if (first.group) while (j < steps.length && steps[j]!.group === first.group) j++;
    const batch = steps.slice(i, j);
    const lanes = new Map<string, Step[]>();
    for (const s of batch) lanes.set(s.vm ?? '', [...(lanes.get(s.vm ?? '') ?? []), s]);
    // A failed lane stops itself; the other VMs' lanes finish, so no VM is left half-way.
    await Promise.all([...lanes.values()].map((lane) => runLane(lane, env, emit, now, failures)));
    if (failures.length) return { ok: false, failures };
    i = j;
  }
  return { ok: true, failures };
}

async function runLane(
  lane: Step[],
  env: RunEnv,
  emit: (e: ExecEvent) => void,
  now: () => number,
  failures: EngineResult['failures'],
): Promise<void> {
  // Once a step of this lane has acted in this process, the lane's own success is what set the
  // state: inside the blackout its later "already done" probes are skipped (each is a QMP round
  // trip). A resumed run probes until its first action; onlyIf conditions are always evaluated.
  let acted = false;
  for (const step of lane) {
    const ref = stepRef(step);
    if (env.stop?.aborted && !step.blackout) {
      // nothing of this step ran: it fails without a start, and the lane stops here; a reason that is
      // an error of its own (the journal's disk filled) is said as that, else it was the operator
      const why: unknown = env.stop.reason;
      const error =
        why instanceof LiveupdateError
          ? new LiveupdateError(
              why.code,
              `${step.id}: not started: ${why.message}; no VM is paused by it`,
              why.hint ? { hint: why.hint } : {},
            )
          : new LiveupdateError(
              'INTERRUPTED',
              `${step.id}: not started: the run was interrupted (${typeof why === 'string' ? why : 'signal'}); no VM is paused by it`,
            );
      emit({ type: 'step-failed', ...ref, at: now(), ms: 0, code: error.code, message: error.message });
      failures.push({ step, error });
      return;
    }
    const t0 = now();
    emit({ type: 'step-start', ...ref, at: t0 });
    try {
      if (step.onlyIf && !(await hostShows(step.onlyIf, env, step.id))) {
        emit({ type: 'step-end', ...ref, at: now(), ms: now() - t0, result: 'skipped' });
        continue;
      }
      const probe = step.check && !(acted && step.blackout && step.check.kind !== 'journal');
      if (probe && (await hostShows(step.check!, env, step.id))) {
        emit({ type: 'step-end', ...ref, at: now(), ms: now() - t0, result: 'already-done' });
        continue;
      }
      const outcome = await runStep(step, env);
      acted = true;
      env.outcomes.set(step.id, outcome);
      const t1 = now();
      emit({ type: 'step-end', ...ref, at: t1, ms: t1 - t0, result: 'ok', ...(Object.keys(outcome).length ? { outcome } : {}) });
    } catch (e) {
      const error =
        e instanceof LiveupdateError
          ? e
          : new LiveupdateError('STEP_FAILED', `${step.id}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      const t1 = now();
      emit({ type: 'step-failed', ...ref, at: t1, ms: t1 - t0, code: error.code, message: error.message });
      failures.push({ step, error });
      return;
    }
  }
}

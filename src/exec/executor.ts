import { randomUUID } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { LiveupdateError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Plan, Step } from '../plan/types.js';
import { QmpPool } from '../qemu/pool.js';
import { runSteps } from './engine.js';
import { blackouts, type Blackout, type ExecEvent } from './events.js';
import { JOURNAL_FORMAT_VERSION, journalEvents, type Journal, type RunState } from './journal.js';
import type { RunEnv } from './runners/env.js';

export interface ExecuteResult {
  ok: boolean;
  failures: Array<{ id: string; code: string; message: string }>;
  /** steps the journal already had done */
  fromJournal: string[];
  blackouts: Blackout[];
  runId: string;
  /** a step of this plan that changes the host finished in this run (this invocation or an earlier one of it): absent from an older agent's result */
  changed?: boolean;
  /** set when a guard step failed and the command aborted on its own (see Step.abortOnFailure) */
  aborted?: { ok: boolean; failures: Array<{ id: string; code: string; message: string }> };
}

function kexecBootId(state: RunState | undefined): string | undefined {
  for (const r of [...(state?.records ?? [])].reverse()) if (r.type === 'step-start' && r.bootId) return r.bootId;
  return undefined;
}

/**
 * Run a plan against a host with a write-ahead journal: steps the journal has done are skipped;
 * a step that was started but never recorded finished is repeated only when that is safe.
 */
export async function execute(input: {
  plan: Plan;
  host: Host;
  journal: Journal;
  emit: (e: ExecEvent) => void;
  liveBootId: string;
  runId?: string;
  stop?: AbortSignal;
}): Promise<ExecuteResult> {
  const { plan, host, journal } = input;
  const open = journal.openRun;
  refuseRun(input, open);
  const kexecFrom = kexecBootId(open);
  if (!open)
    journal.begin({
      runId: input.runId ?? randomUUID(),
      at: Date.now(),
      host: plan.host,
      profile: plan.profile,
      backend: plan.backend,
      bootId: plan.facts.bootId,
      vms: plan.vms.map((v) => ({ name: v.name, qmp: v.qmp })),
    });
  // a run continued from its journal gets its reserve back where the disk has room (exec/journal.ts)
  else journal.reserve(false);
  // the run stops between steps, never inside the blackout window, when the operator interrupts it or
  // the journal's disk fills (its reserve spent on recording the window to its end)
  const stop = new AbortController();
  const interrupt = (): void => stop.abort(input.stop!.reason);
  if (input.stop?.aborted) interrupt();
  input.stop?.addEventListener('abort', interrupt, { once: true });
  journal.onFull = (why) => stop.abort(why);
  if (journal.full) stop.abort(journal.full);
  const state = journal.openRun!;
  journal.append({ type: 'phase', at: Date.now(), phases: plan.phases, bootId: input.liveBootId, plan }, true);

  const { todo, fromJournal } = selectSteps(plan, state, await deadVmms(plan, host, state));
  const env = runEnv(plan, host, state, kexecFrom, stop.signal);
  let result;
  try {
    result = await runSteps(todo, env, journalWriter(input, env, kexecFrom));
  } finally {
    await env.qmp.closeAll();
    input.stop?.removeEventListener('abort', interrupt);
    journal.onFull = undefined;
  }
  const measured = blackouts(journalEvents(journal.state?.records ?? []));
  const finishing = result.ok && (plan.phases.includes('resume') || plan.phases.includes('abort'));
  if (finishing) {
    journal.append({ type: 'blackout', at: Date.now(), vms: measured }, true);
    journal.append({ type: 'done', at: Date.now(), how: plan.phases.includes('abort') ? 'aborted' : 'resumed' }, true);
  }
  // a verify step looks only; every other kind changes the host when it runs
  const kinds = new Map(plan.steps.map((st) => [st.id, st.kind]));
  const changed = (journal.state?.records ?? []).some(
    (r) => r.type === 'step-end' && r.result === 'ok' && kinds.has(r.id) && kinds.get(r.id) !== 'verify',
  );
  return {
    ok: result.ok,
    failures: result.failures.map((f) => ({ id: f.step.id, code: f.error.code, message: f.error.message })),
    fromJournal,
    blackouts: measured,
    runId: state.run.runId,
    changed,
  };
}

/** What the journal's open run forbids: another format, another profile, a plan of another boot, a host that rebooted after the kexec. */
function refuseRun(input: { plan: Plan; host: Host; journal: Journal; liveBootId: string }, state: RunState | undefined): void {
  const { plan, host, journal } = input;
  if (state && state.run.format !== JOURNAL_FORMAT_VERSION) {
    throw new LiveupdateError(
      'JOURNAL_CONFLICT',
      `${journal.file} has an unfinished run ${state.run.runId} journaled in format ${state.run.format}; this liveupdate writes format ${JOURNAL_FORMAT_VERSION}`,
      {
        hint: 'finish the run with the liveupdate version that started it, then update liveupdate',
      },
    );
  }
  if (state && state.run.profile !== plan.profile) {
    throw new LiveupdateError(
      'JOURNAL_CONFLICT',
      `${journal.file} has an unfinished run ${state.run.runId} for ${state.run.profile}, not ${plan.profile}`,
      {
        hint: 'finish it (liveupdate resume / abort with that profile) or move the journal aside',
      },
    );
  }
  // A plan is for one boot: its facts must be this boot's, unless the journal proves a kexec since.
  const kexecFrom = kexecBootId(state);
  if (plan.facts.bootId !== input.liveBootId && !(kexecFrom && kexecFrom !== input.liveBootId)) {
    throw new LiveupdateError(
      'FACTS_MISMATCH',
      `the plan was made from facts of boot ${plan.facts.bootId}, but ${host.name} is on boot ${input.liveBootId}; nothing was done`,
      {
        hint: 'plan again from fresh facts',
      },
    );
  }
  // After the kexec, a boot other than the one the boot proof recorded (the journal has it; the resume
  // plan does not hold that step) means the host rebooted again: memory kept across a kexec does not
  // survive that, so there is nothing to restore from.
  const proof = state?.records.find((r) => r.type === 'step-end' && r.marks?.provesBoot);
  const proven = proof?.type === 'step-end' ? proof.outcome?.['bootId'] : undefined;
  if (state && typeof proven === 'string' && input.liveBootId !== proven && plan.phases.some((p) => p === 'resume')) {
    const { done, records } = state;
    const running = (vm: string): boolean =>
      records.some((r) => r.type === 'step-end' && r.vm === vm && r.marks?.blackoutEnd && done.has(r.id));
    const lost = state.run.vms.map((v) => v.name).filter((vm) => !running(vm));
    throw new LiveupdateError(
      'STEP_FAILED',
      `${host.name} rebooted again after the live update's kexec (now boot ${input.liveBootId}, the kexec's boot was ${proven}): memory kept across a kexec does not survive a reboot or power loss, so the guest RAM of ${lost.join(', ') || 'no VM'} is lost; ${lost.length ? 'those VMs cannot be resumed and must be cold-booted' : 'every VM had already resumed'}. Nothing was done.`,
      {
        hint: `the device state files remain for inspection; close this run with 'liveupdate abort' or move ${journal.file} aside`,
      },
    );
  }
}

/**
 * A VMM the journal says was started, that no later step quit on purpose, and that no longer
 * answers died since: start it again, and run everything after it in that VM's lane again. (Its
 * latest start counts: a run continued after the kexec has the first QEMU quit and a new one started.)
 * Each such VM, with the index of the start to run again from.
 */
async function deadVmms(plan: Plan, host: Host, state: RunState): Promise<Map<string, number>> {
  const pool = new QmpPool(host);
  const redoVm = new Set<string>();
  const quitAfter = (i: number, vm: string): boolean =>
    plan.steps.slice(i + 1).some((s) => s.kind === 'qmp' && s.command === 'quit' && s.vm === vm && state.done.has(s.id));
  for (const [i, step] of plan.steps.entries()) {
    // (a cpr-transfer's new QEMU has no QMP until the VM is handed to it: its own step stops and restarts it)
    if (
      step.kind === 'qemu-start' &&
      !step.cpr &&
      state.done.has(step.id) &&
      !redoVm.has(step.vm) &&
      !quitAfter(i, step.vm) &&
      (await pool.alive(step.socket)) === undefined
    )
      redoVm.add(step.vm);
  }
  await pool.closeAll();
  return new Map(
    [...redoVm].map((vm) => [vm, plan.steps.findIndex((s) => s.kind === 'qemu-start' && s.vm === vm && state.done.has(s.id))]),
  );
}

/** The steps to run (not done, or in a dead VMM's lane), and those the journal has done; refused when one in flight cannot be repeated. */
function selectSteps(plan: Plan, state: RunState, redoFrom: Map<string, number>): { todo: Step[]; fromJournal: string[] } {
  const fromJournal: string[] = [];
  const todo: Step[] = [];
  for (const [i, step] of plan.steps.entries()) {
    const redo = step.vm !== undefined && redoFrom.has(step.vm) && i >= redoFrom.get(step.vm)!;
    if (state.done.has(step.id) && !redo) {
      fromJournal.push(step.id);
      continue;
    }
    if (state.inFlight.has(step.id) && !step.idempotent && (!step.check || step.check.kind === 'journal')) {
      throw new LiveupdateError(
        'JOURNAL_CONFLICT',
        `${step.id} was started but never recorded finished, and repeating it is not safe (${step.description}); nothing more was done`,
        {
          hint: `inspect the host: if it did complete, record that with 'liveupdate resume --mark-done ${step.id}'`,
        },
      );
    }
    todo.push(step);
  }
  return { todo, fromJournal };
}

/** What the steps run with: the host, QMP, the outcomes so far, and the run-time values (the journal's too). */
function runEnv(plan: Plan, host: Host, state: RunState, kexecFrom: string | undefined, stop: AbortSignal | undefined): RunEnv {
  const env: RunEnv = {
    host,
    qmp: new QmpPool(host),
    ...(stop ? { stop } : {}),
    outcomes: new Map(state.done),
    vars: Object.fromEntries<string>([
      ...plan.vms.map((v): [string, string] => [`qmp.${v.name}`, v.qmp]),
      // paths of this run's own (a cpr-transfer's new QEMU): never those of a QEMU an earlier run started
      ['run.tag', state.run.runId.replace(/-/g, '').slice(0, 8)],
      ...(kexecFrom ? [['boot.recorded', kexecFrom] as [string, string]] : []),
    ]),
  };
  // run-time values earlier steps found (the LUO holder's pid and memfds) come back from the journal
  for (const o of env.outcomes.values()) {
    const vars = o['vars'];
    if (vars && typeof vars === 'object') Object.assign(env.vars, vars as Record<string, string>);
  }
  return env;
}

/** Each event into the journal, then to `emit`: fsync'd outside the blackout, and inside it what could not safely be repeated. */
function journalWriter(
  input: { plan: Plan; journal: Journal; emit: (e: ExecEvent) => void; liveBootId: string },
  env: RunEnv,
  kexecFrom: string | undefined,
): (e: ExecEvent) => void {
  const { journal } = input;
  const stepsById = new Map(input.plan.steps.map((s) => [s.id, s]));
  return (e) => {
    const step = stepsById.get(e.id)!;
    const sync = !step.blackout || !step.idempotent;
    // the journal records the event itself; the jump's start also names the boot it leaves
    if (e.type === 'step-start' && step.pointOfNoReturn) {
      // the next boot is proven new against it. When the journal already has the jump from another
      // boot (a run continued on the new boot, the agent at boot), that boot stays the one left: the
      // step's check then finds the boot changed and never jumps a second time.
      const leaves = kexecFrom && kexecFrom !== input.liveBootId ? kexecFrom : input.liveBootId;
      env.vars['boot.recorded'] = leaves;
      journal.append({ ...e, bootId: leaves }, true);
      journal.sync(); // kexec does not flush the page cache
    } else journal.append(e, e.type === 'step-failed' || sync);
    if (step.marks?.flushJournal && e.type === 'step-end') journal.sync();
    input.emit(e);
    // journalled and reported: a test's failpoint may stop the process exactly here (test/helpers/agent-failpoint.ts)
    if (e.type === 'step-end' && stepEnded.hasSubscribers) stepEnded.publish({ id: e.id });
  };
}

/** Each step end, once it is in the journal and reported: nothing subscribes outside the crash tests. */
const stepEnded = channel('liveupdate:exec:step-end');

/** `step` comes before the plan's jump (kexec -e), or the plan has none: the old kernel still runs every VM there. */
const beforeJump = (plan: Plan, step: Step): boolean => {
  const jump = plan.steps.findIndex((s) => s.pointOfNoReturn);
  return jump < 0 || plan.steps.indexOf(step) < jump;
};

/**
 * A plan, and when one of its guards fails before the point of no return (Step.abortOnFailure), the
 * abort plan made from the same facts, so every VM runs again on this kernel; the same when the
 * operator interrupted the run before the jump (what was begun is undone). The control node's use
 * case and the on-host agent both run plans this way.
 */
export async function executeGuarded(
  plan: Plan,
  abortPlan: Plan | undefined,
  run: (plan: Plan) => Promise<ExecuteResult>,
  onAbort: (stepId: string) => void = () => undefined,
): Promise<ExecuteResult> {
  const result = await run(plan);
  // a failed guard, or a step the operator's interruption (or a full journal disk) kept from starting before the jump
  const guard = result.failures.find((f) => {
    const step = plan.steps.find((s) => s.id === f.id);
    return (
      step !== undefined &&
      (step.abortOnFailure === true || ((f.code === 'INTERRUPTED' || f.code === 'JOURNAL_FULL') && beforeJump(plan, step)))
    );
  });
  if (!guard || !abortPlan) return result;
  onAbort(guard.id);
  const aborted = await run(abortPlan);
  return { ...result, aborted: { ok: aborted.ok, failures: aborted.failures } };
}

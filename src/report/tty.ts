import type { ListrTask } from 'listr2';
import type { ExecEvent, Progress } from '../exec/events.js';
import type { Plan } from '../plan/types.js';
import { visible } from './visible.js';

interface Pending {
  promise: Promise<ExecEvent>;
  settle: (e: ExecEvent) => void;
}

/** listr2 on a TTY: phase -> step, each step task finishing when the executor's event for it arrives. */
export function ttyReporter(plan: Plan): Required<Progress> {
  const pending = new Map<string, Pending>();
  for (const s of plan.steps) {
    let settle!: (e: ExecEvent) => void;
    const promise = new Promise<ExecEvent>((r) => (settle = r));
    pending.set(s.id, { promise, settle });
  }
  const phases = [...new Set(plan.steps.map((s) => s.phase))];
  const tasks: ListrTask[] = phases.map((phase) => ({
    title: phase,
    task: (_ctx, task) =>
      task.newListr(
        plan.steps
          .filter((s) => s.phase === phase)
          .map((s): ListrTask => ({
            title: visible(`${s.blackout ? '│ ' : ''}${s.id}  ${s.description}`),
            task: async (_c, t) => {
              const e = await pending.get(s.id)!.promise;
              if (e.type === 'step-failed') throw new Error(visible(e.message));
              if (e.type === 'step-end') {
                if (e.result === 'ok') t.title = `${t.title} (${e.ms.toFixed(0)} ms)`;
                else t.skip(e.result === 'already-done' ? `${s.id}: already done` : `${s.id}: not needed`);
              }
            },
          })),
        { concurrent: true, exitOnError: false },
      ),
  }));
  // listr2 loads here, when a terminal first shows progress (the tasks wait on events, not on it)
  const running = import('listr2')
    .then(({ Listr }) => new Listr(tasks, { concurrent: false, exitOnError: false, rendererOptions: { collapseSubtasks: false } }).run())
    .catch(() => undefined);
  return {
    emit: (e) => {
      if (e.type !== 'step-start') pending.get(e.id)?.settle(e);
    },
    finish: async () => {
      // steps never reached (a failure stopped the run, or the journal had them) close as skipped
      for (const [id, p] of pending) p.settle({ type: 'step-end', id, phase: 'resume', blackout: false, at: 0, ms: 0, result: 'skipped' });
      await running;
    },
  };
}

import type { PhaseReporter, UpdateListener } from '../app/update.js';
import type { Plan } from '../plan/types.js';
import type { Reporter } from '../report/reporter.js';

/** The CLI's side of the use case: warnings, events and each plan's step progress to the run's reporter. */
export function cliListener(o: Reporter, reporter: (plan: Plan) => PhaseReporter = (plan) => o.steps(plan)): UpdateListener {
  return {
    warn: (d) => o.warn(d),
    planned: (plan, host) => o.event({ type: 'plan', phases: plan.phases, steps: plan.steps.length, host, profile: plan.profile }),
    autoAbort: (id) => {
      o.event({ type: 'auto-abort', step: id });
      o.say(`${id} failed before the point of no return: aborting, every VM resumes on this kernel`);
    },
    reporter,
  };
}

import type { UpdateListener } from '../app/update.js';
import type { RunView } from '../report/views/run.js';

/** The CLI's side of the use case: warnings to the run's reporter, everything else to its run view. */
export function cliListener(warn: UpdateListener['warn'], view: RunView): Omit<UpdateListener, 'signal' | 'confirm'> {
  return {
    warn,
    planned: (plan, host) => view.planned(plan, host),
    autoAbort: (id) => view.autoAbort(id),
    progress: (plan) => view.steps(plan),
    installing: (preview) => view.installing(preview),
  };
}

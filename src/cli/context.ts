import type { Reporter } from '../report/reporter.js';

/** What every command's code gets (src/cli/commands/): the run's one reporter, and the exit code to end with. */
export interface CommandContext {
  out: Reporter;
  setExit: (code: number) => void;
}

/** What `plan --phase` takes (program.ts declares the flag, commands/plan.ts checks it). */
/** `plan --phase`'s values; `run --phase` takes the two that name several phases, all and update */
export const PHASE_CHOICES = ['prepare', 'suspend', 'kexec', 'resume', 'abort', 'update', 'all'];

/** A flag or argument whose value is a path: `~` is expanded in it, and completion offers files. */
export const PATH_VALUE = /<(file|dir|profile)>/;

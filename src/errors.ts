/** Exit codes, stable for scripts. */
/**
 * One meaning each: 1 nothing was changed; 2 changes pending (plan --detailed-exitcode); 3 a run changed
 * the host and stopped on a failure, its state kept (status says what next); 4 stopped following an
 * agent's run, which goes on; 64 usage; 70 a bug; 130 interrupted.
 */
export const EXIT = { ok: 0, error: 1, pending: 2, stopped: 3, detached: 4, usage: 64, bug: 70, interrupted: 130 } as const;

/** The exit code of an error a user can act on (EXIT's meanings): usage, a run stopped part-way, or nothing changed. */
export function exitFor(code: ErrorCode): number {
  return code === 'USAGE' ? EXIT.usage : code === 'AGENT_GONE' ? EXIT.stopped : EXIT.error;
}

/** Errors a user can act on carry a stable `code`; anything else reaching main is a bug. */
export type ErrorCode =
  | 'PROFILE_INVALID'
  | 'PROFILE_NOT_FOUND'
  | 'FACTS_INVALID'
  | 'FACTS_MISMATCH'
  | 'PLAN_INVALID'
  /** a saved plan no longer matches its profile, the host's boot or its facts */
  | 'PLAN_STALE'
  /** the host's agent ended without a result, part-way through a run: its journal on the host says where */
  | 'AGENT_GONE'
  | 'USAGE'
  | 'HOST_UNREACHABLE'
  | 'HOST_KEY_REJECTED'
  | 'HOST_AUTH_FAILED'
  | 'HOST_COMMAND_FAILED'
  | 'QMP_ERROR'
  | 'QMP_TIMEOUT'
  | 'QMP_CLOSED'
  | 'QEMU_FAILED'
  | 'MIGRATION_FAILED'
  | 'STEP_FAILED'
  | 'JOURNAL_CONFLICT'
  /** the journal's disk is full: what a run could not record; with the reserve freed, the window ran to its end */
  | 'JOURNAL_FULL'
  | 'HOST_BUSY'
  | 'HELPER_ERROR'
  /** a VM's guest RAM after the kexec is not what its fingerprint before the kexec says: nothing was started on it */
  | 'RAM_CHANGED'
  | 'NOT_SUPPORTED'
  | 'LAB_UNAVAILABLE'
  /** the host came back on a kernel other than the one loaded (another image, another command line): the update did not happen */
  | 'WRONG_KERNEL'
  /** the operator answered something other than yes before the point of no return */
  | 'NOT_CONFIRMED'
  /** the operator stopped the run (Ctrl-C, SIGTERM) between steps */
  | 'INTERRUPTED';

export interface Diagnostic {
  /** file:line:column, when the problem has a place in an input file */
  where?: string;
  /** dotted path of the field, e.g. vms[1].memory */
  field?: string;
  message: string;
}

export class LiveupdateError extends Error {
  readonly code: ErrorCode;
  readonly diagnostics: Diagnostic[];
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; diagnostics?: Diagnostic[]; hint?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LiveupdateError';
    this.code = code;
    this.diagnostics = opts.diagnostics ?? [];
    this.hint = opts.hint;
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  const place = d.where ? `${d.where}: ` : '';
  const field = d.field ? `${d.field}: ` : '';
  return `${place}${field}${d.message}`;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

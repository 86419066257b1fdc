/** Exit codes, stable for scripts. */
export const EXIT = { ok: 0, error: 1, pending: 2, usage: 64, bug: 70, interrupted: 130 } as const;

/** Errors a user can act on carry a stable `code`; anything else reaching main is a bug. */
export type ErrorCode =
  | 'PROFILE_INVALID'
  | 'PROFILE_NOT_FOUND'
  | 'FACTS_INVALID'
  | 'FACTS_MISMATCH'
  | 'PLAN_INVALID'
  /** a saved plan no longer matches its profile, the host's boot or its facts */
  | 'PLAN_STALE'
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

import { formatDiagnostic, LiveupdateError, type Diagnostic } from '../errors.js';

export const EVENTS_FORMAT_VERSION = 1;

/** Exit codes, stable for scripts. */
export const EXIT = { ok: 0, error: 1, pending: 2, usage: 64, bug: 70, interrupted: 130 } as const;

/** Chosen before anything is validated, so even a bad profile is reported in the requested format. */
export interface Output {
  readonly json: boolean;
  /** a finished result: text for humans, or one JSON document */
  result(text: string, data: unknown): void;
  warn(d: Diagnostic): void;
  /** a streamed event (NDJSON in JSON mode) */
  event(e: Record<string, unknown>): void;
  error(err: unknown): number;
}

/** Put held warnings into a result document, next to any it already carries. */
function withWarnings(data: Record<string, unknown>, ws: Diagnostic[]): Record<string, unknown> {
  const own = Array.isArray(data['warnings']) ? (data['warnings'] as Diagnostic[]) : [];
  return { ...data, warnings: [...ws, ...own] };
}

export function makeOutput(json: boolean, stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Output {
  let headerDone = false;
  // JSON mode: warnings join the one result document, or the event stream once it starts
  const held: Diagnostic[] = [];
  const header = (): void => {
    if (!headerDone) stdout.write(JSON.stringify({ type: 'format', format: 'liveupdate-events', version: EVENTS_FORMAT_VERSION }) + '\n');
    headerDone = true;
    for (const d of held.splice(0)) stdout.write(JSON.stringify({ type: 'warning', ...d }) + '\n');
  };
  return {
    json,
    result(text, data) {
      if (!json) stdout.write(text);
      else if (headerDone) stdout.write(JSON.stringify({ type: 'result', data }) + '\n');
      else stdout.write(JSON.stringify(held.length && data && typeof data === 'object' ? withWarnings(data as Record<string, unknown>, held.splice(0)) : data, null, 2) + '\n');
    },
    warn(d) {
      if (!json) stderr.write(`warning: ${formatDiagnostic(d)}\n`);
      else if (headerDone) stdout.write(JSON.stringify({ type: 'warning', ...d }) + '\n');
      else held.push(d);
    },
    event(e) {
      if (json) {
        header();
        stdout.write(JSON.stringify(e) + '\n');
      }
    },
    error(err) {
      if (err instanceof LiveupdateError) {
        if (json) stdout.write(JSON.stringify({ type: 'error', code: err.code, message: err.message, diagnostics: err.diagnostics, hint: err.hint, ...(held.length ? { warnings: held.splice(0) } : {}) }) + '\n');
        else {
          stderr.write(`error: ${err.message}\n`);
          for (const d of err.diagnostics) stderr.write(`  ${formatDiagnostic(d)}\n`);
          if (err.hint) stderr.write(`hint: ${err.hint}\n`);
        }
        return err.code === 'USAGE' ? EXIT.usage : EXIT.error;
      }
      const e = err instanceof Error ? err : new Error(String(err));
      if (json) stdout.write(JSON.stringify({ type: 'error', code: 'BUG', message: e.message, stack: e.stack }) + '\n');
      else {
        stderr.write(`liveupdate hit a bug: ${e.message}\n`);
        stderr.write('Please report it with the command you ran, this output and the stack below.\n');
        stderr.write(`${e.stack ?? ''}\n`);
      }
      return EXIT.bug;
    },
  };
}

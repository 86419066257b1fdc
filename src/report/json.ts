/**
 * The reporter for programs (`--json`): everything on stdout. One pretty JSON document when the
 * command only has a result; NDJSON once it streams (a format line first, then its events, warnings,
 * and a result or error line last). Warnings wait for the document, or join the stream once it starts.
 */
import { EXIT, exitFor, LiveupdateError, type Diagnostic } from '../errors.js';
import type { Reporter } from './reporter.js';
import { jsonStages } from './stages.js';
import { envelope, EVENTS_FORMAT_VERSION, type EmittedLine, type EventLine } from './stream.js';

/** Put held warnings into a result document, next to any it already carries. */
function withWarnings(data: object, ws: Diagnostic[]): object {
  const own = (data as { warnings?: unknown }).warnings;
  return { ...data, warnings: [...ws, ...(Array.isArray(own) ? (own as Diagnostic[]) : [])] };
}

export function jsonReporter(stdout: NodeJS.WritableStream): Reporter {
  let streaming = false;
  const held: Diagnostic[] = [];
  const line = (l: EventLine): void => void stdout.write(JSON.stringify(l) + '\n');
  const event = (e: EmittedLine): void => {
    if (!streaming) {
      line({ type: 'format', format: 'liveupdate-events', version: EVENTS_FORMAT_VERSION });
      streaming = true;
      for (const d of held.splice(0)) line({ type: 'warning', ...d });
    }
    line(e);
  };
  const heldWarnings = (): { warnings?: Diagnostic[] } => (held.length ? { warnings: held.splice(0) } : {});
  return {
    style: 'json',
    interactive: false,
    color: false,
    result(_text, data) {
      if (streaming) line({ type: 'result', data: envelope(data) });
      else stdout.write(JSON.stringify(held.length ? withWarnings(envelope(data), held.splice(0)) : envelope(data), null, 2) + '\n');
    },
    warn(d) {
      if (streaming) line({ type: 'warning', ...d });
      else held.push(d);
    },
    event,
    say: () => undefined,
    steps: () => ({ emit: (e) => event({ ...e }) }),
    stages: () => jsonStages(event),
    error(err) {
      if (err instanceof LiveupdateError) {
        line({
          type: 'error',
          formatVersion: 1,
          code: err.code,
          message: err.message,
          diagnostics: err.diagnostics,
          ...(err.hint ? { hint: err.hint } : {}),
          ...heldWarnings(),
        });
        return exitFor(err.code);
      }
      const e = err instanceof Error ? err : new Error(String(err));
      line({ type: 'error', formatVersion: 1, code: 'BUG', message: e.message, ...(e.stack ? { stack: e.stack } : {}) });
      return EXIT.bug;
    },
  };
}

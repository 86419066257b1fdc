/**
 * The one reporter seam: everything a command shows goes through a Reporter, chosen once in
 * cli/main.ts before any input is read (so even a bad profile comes out in the requested form).
 * Three styles: `tty` (listr2 on a terminal), `plain` (a line per step, for logs and CI) and `json`
 * (one JSON document, or NDJSON events after a format line). Results go to stdout; progress, warnings
 * and errors to stderr, except in JSON mode, where everything is on stdout.
 */
import { EXIT, formatDiagnostic, LiveupdateError, type Diagnostic } from '../errors.js';
import type { ExecEvent } from '../exec/events.js';
import type { Plan } from '../plan/types.js';
import { plainLine } from './progress.js';
import { jsonStages, plainStages, ttyStages, type Stages } from './stages.js';
import { ttyReporter } from './tty.js';
import { EVENTS_FORMAT_VERSION, type DocumentResultLine, type EmittedLine, type EventLine } from './stream.js';


export type Style = 'tty' | 'plain' | 'json';

/** What a step's progress goes to: the executor's (or the agent follower's) events, then finish. */
export interface StepProgress {
  emit: (e: ExecEvent) => void;
  finish?: () => Promise<void>;
}

/** A `--json` document: what it is, and its format's version when it has one of its own. */
export interface ResultDocument {
  type: string;
  formatVersion?: number;
}

/** The JSON contract's envelope: type first, then the format version (a document's own, else 1), then the rest. */
export const envelope = (d: ResultDocument): DocumentResultLine['data'] => Object.assign({ type: d.type, formatVersion: d.formatVersion ?? 1 } as DocumentResultLine['data'], d);

export interface Reporter {
  readonly style: Style;
  readonly json: boolean;
  /** stdout is a terminal (and not JSON): results may use colour */
  readonly color: boolean;
  /**
   * A finished result: text for humans, or one JSON document (a `result` event once events
   * streamed). Every document says what it is (`type`) and in which format (`formatVersion`: the
   * document's own, e.g. a plan's, else 1), the same envelope for every command.
   */
  result<D extends ResultDocument>(text: string, data: D): void;
  warn(d: Diagnostic): void;
  /** a streamed event: NDJSON in JSON mode, nothing otherwise (say() is the human side) */
  event(e: EmittedLine): void;
  /** a line of progress for humans on stderr; nothing in JSON mode */
  say(text: string): void;
  /**
   * the progress of one plan's steps; with `into`, plain lines go there (e.g. under a stage); without
   * a plan (following a run whose plan is not here) a terminal gets plain lines too
   */
  steps(plan: Plan | undefined, into?: (line: string) => void): StepProgress;
  /** a long command's stages (demo: build, boot, update ...) */
  stages(): Stages;
  /** an error as the user sees it; returns the exit code */
  error(err: unknown): number;
}

/** The style for this run: --json wins; listr2 only on a terminal outside CI. */
export function styleFor(json: boolean, stderr: NodeJS.WritableStream = process.stderr, env: NodeJS.ProcessEnv = process.env): Style {
  if (json) return 'json';
  return (stderr as { isTTY?: boolean }).isTTY === true && !env['CI'] ? 'tty' : 'plain';
}

/** Put held warnings into a result document, next to any it already carries. */
function withWarnings(data: Record<string, unknown>, ws: Diagnostic[]): Record<string, unknown> {
  const own = Array.isArray(data['warnings']) ? (data['warnings'] as Diagnostic[]) : [];
  return { ...data, warnings: [...ws, ...own] };
}

export function makeReporter(style: Style, stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Reporter {
  const json = style === 'json';
  let headerDone = false;
  // JSON mode: warnings join the one result document, or the event stream once it starts
  const held: Diagnostic[] = [];
  const line = (l: EventLine): void => void stdout.write(JSON.stringify(l) + '\n');
  const header = (): void => {
    if (!headerDone) line({ type: 'format', format: 'liveupdate-events', version: EVENTS_FORMAT_VERSION });
    headerDone = true;
    for (const d of held.splice(0)) line({ type: 'warning', ...d });
  };
  const event = (e: EmittedLine): void => {
    if (json) {
      header();
      line(e);
    }
  };
  return {
    style,
    json,
    color: !json && (stdout as { isTTY?: boolean }).isTTY === true,
    result(text, data) {
      if (!json) stdout.write(text);
      else if (headerDone) line({ type: 'result', data: envelope(data) });
      else stdout.write(JSON.stringify(held.length ? withWarnings(envelope(data), held.splice(0)) : envelope(data), null, 2) + '\n');
    },
    warn(d) {
      if (!json) stderr.write(`warning: ${formatDiagnostic(d)}\n`);
      else if (headerDone) line({ type: 'warning', ...d });
      else held.push(d);
    },
    event,
    say(text) {
      if (!json) stderr.write(text.endsWith('\n') ? text : text + '\n');
    },
    steps(plan, into) {
      if (json) return { emit: (e) => event({ ...e }) };
      if (style === 'tty' && plan && !into) return ttyReporter(plan);
      return {
        emit: (e) => {
          const line = plainLine(e);
          if (!line) return;
          if (into) into(line.trimEnd());
          else stderr.write(line);
        },
      };
    },
    stages() {
      if (json) return jsonStages(event);
      return style === 'tty' ? ttyStages() : plainStages((t) => stderr.write(t));
    },
    error(err) {
      if (err instanceof LiveupdateError) {
        if (json) line({ type: 'error', formatVersion: 1, code: err.code, message: err.message, diagnostics: err.diagnostics, ...(err.hint ? { hint: err.hint } : {}), ...(held.length ? { warnings: held.splice(0) } : {}) });
        else {
          stderr.write(`error: ${err.message}\n`);
          for (const d of err.diagnostics) stderr.write(`  ${formatDiagnostic(d)}\n`);
          if (err.hint) stderr.write(`hint: ${err.hint}\n`);
        }
        return err.code === 'USAGE' ? EXIT.usage : EXIT.error;
      }
      const e = err instanceof Error ? err : new Error(String(err));
      if (json) line({ type: 'error', formatVersion: 1, code: 'BUG', message: e.message, ...(e.stack ? { stack: e.stack } : {}) });
      else {
        stderr.write(`liveupdate hit a bug: ${e.message}\n`);
        stderr.write('Please report it with the command you ran, this output and the stack below.\n');
        stderr.write(`${e.stack ?? ''}\n`);
      }
      return EXIT.bug;
    },
  };
}

/**
 * The one reporter seam: everything a command shows goes through a Reporter, chosen once in
 * cli/main.ts before any input is read (so even a bad profile comes out in the requested form).
 * Three styles, two implementations (chosen in report/style.ts): human (report/human.ts: `tty`, listr2 on a terminal, or
 * `plain`, a line per step for logs and CI) and JSON (report/json.ts: one document, or NDJSON events
 * after a format line). Results go to stdout; progress, warnings and errors to stderr, except in JSON
 * mode, where everything is on stdout. A command's own shape of output (a run, a fleet, a status) is
 * its view (report/views/), built on this.
 */
import type { Diagnostic } from '../errors.js';
import type { Progress } from '../exec/events.js';
import type { Plan } from '../plan/types.js';
import type { Stages } from './stages.js';
import type { JsonDocument } from './documents.js';
import type { EmittedLine } from './stream.js';

export type Style = 'tty' | 'plain' | 'json';

export interface Reporter {
  readonly style: Style;
  /** a question may be put to the operator (not with --json, whose stdout is a document) */
  readonly interactive: boolean;
  /** stdout is a terminal (and not JSON): results may use colour */
  readonly color: boolean;
  /**
   * A finished result: text for humans, or one JSON document (a `result` event once events
   * streamed). Every document says what it is (`type`) and in which format (`formatVersion`: the
   * document's own, e.g. a plan's, else 1), the same envelope for every command.
   */
  result(text: string, data: JsonDocument): void;
  warn(d: Diagnostic): void;
  /** a streamed event: NDJSON in JSON mode, nothing for humans (say() is their side) */
  event(e: EmittedLine): void;
  /** a line of progress for humans on stderr; nothing in JSON mode */
  say(text: string): void;
  /**
   * the progress of one plan's steps; with `into`, plain lines go there (e.g. under a stage); without
   * a plan (following a run whose plan is not here) a terminal gets plain lines too
   */
  steps(plan: Plan | undefined, into?: (line: string) => void): Progress;
  /** a long command's stages (demo: build, boot, update ...) */
  stages(): Stages;
  /** an error as the user sees it; returns the exit code */
  error(err: unknown): number;
}

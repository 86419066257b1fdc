/**
 * Every line a `--json` event stream (NDJSON) can hold, as one union: Reporter.event() takes only
 * these, and schemas/events.schema.json is generated from this type (npm run schemas), so the
 * published schema is what the code writes.
 */
import type { Diagnostic } from '../errors.js';
import type { ExecEvent } from '../exec/events.js';
import type { FleetEvent, HostReport } from '../fleet/events.js';
import type { Phase } from '../plan/types.js';
import type { ErrorLine, InstallLine, JsonDocument, RunResultLine, UpToDateLine } from './documents.js';

export const EVENTS_FORMAT_VERSION = 1;

/** The first line: what the stream is, and its version. */
export interface FormatLine {
  type: 'format';
  format: 'liveupdate-events';
  version: typeof EVENTS_FORMAT_VERSION;
}

export type WarningLine = { type: 'warning' } & Diagnostic;

/** The plan about to run (not the abort plan that follows a failed guard: auto-abort says that). */
export interface PlanLine {
  type: 'plan';
  phases: Phase[];
  /** how many steps */
  steps: number;
  host: string;
  profile: string;
}

/** A guard failed before the point of no return: every VM is being resumed on the running kernel. */
export interface AutoAbortLine {
  type: 'auto-abort';
  step: string;
}

/** This process stopped following the on-host agent (Ctrl-C, or the host silent too long); the host goes on. */
export interface DetachedLine {
  type: 'detached';
  command: string;
  requestId: string;
  host: string;
  why: string;
  /** the command that follows it again */
  follow: string;
}

/** The last line of `fleet run`. */
export interface FleetResultLine {
  type: 'result';
  runId: string;
  ok: boolean;
  stopped: string | null;
  dir: string;
  hosts: HostReport[];
}

/** The last line of other streaming commands (the demo): their result document. */
export interface DocumentResultLine {
  type: 'result';
  data: JsonDocument & { formatVersion: number };
}

/** The JSON contract's envelope: type first, then the format version (a document's own, else 1), then the rest. */
export const envelope = (d: JsonDocument): DocumentResultLine['data'] =>
  Object.assign({ type: d.type, formatVersion: (d as { formatVersion?: number }).formatVersion ?? 1 }, d);

/** A host's executor event inside a fleet run, flattened: the event's own type becomes `step`. */
type HostStep<E extends ExecEvent> = Omit<E, 'type'> & { type: 'host-step'; host: string; step: E['type'] };
export type HostStepLine =
  | HostStep<Extract<ExecEvent, { type: 'step-start' }>>
  | HostStep<Extract<ExecEvent, { type: 'step-end' }>>
  | HostStep<Extract<ExecEvent, { type: 'step-failed' }>>;

export type FleetLine = Exclude<FleetEvent, { type: 'host-step' }> | HostStepLine;

/** The demo's stages. */
export type StageLine =
  | { type: 'stage-start'; stage: string; estimate: string; at: number }
  | { type: 'stage-end'; stage: string; at: number; ms: number }
  | { type: 'stage-failed'; stage: string; at: number; ms: number; message: string };

/** What Reporter.event() is given (the reporter itself writes the format, warning, document result and error lines). */
export type EmittedLine =
  | ExecEvent
  | PlanLine
  | InstallLine
  | AutoAbortLine
  | DetachedLine
  | RunResultLine
  | UpToDateLine
  | FleetResultLine
  | FleetLine
  | StageLine;

/** One line of the stream. */
export type EventLine = FormatLine | WarningLine | EmittedLine | DocumentResultLine | ErrorLine;

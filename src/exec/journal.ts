import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LiveupdateError } from '../errors.js';
import type { Phase } from '../plan/types.js';
import type { EventMarks } from './events.js';
import type { Outcome } from './runners/env.js';

/**
 * 2: step records carry the step's marks (events.ts EventMarks), which status, abort and resume read.
 * Their `phase` (added within format 2, optional) lets a reader that has only the journal (a control
 * node following the on-host agent) draw the same events the executor emitted.
 */
export const JOURNAL_FORMAT_VERSION = 2;

export type JournalRecord =
  | { t: 'run'; format: number; runId: string; at: number; host: string; profile: string; backend: string; bootId: string; vms: Array<{ name: string; qmp: string }> }
  /** the plan each command ran, as it was made */
  | { t: 'phase'; at: number; phases: string[]; bootId: string; plan?: unknown }
  | { t: 'blackout'; at: number; vms: Array<{ vm: string; ms: number; saveMs?: number; loadMs?: number; qemuDowntimeMs?: number }> }
  /** bootId: recorded on the kexec step, so the next boot can be proven new */
  | { t: 'start'; id: string; at: number; phase?: Phase; vm?: string; blackout?: boolean; marks?: EventMarks; bootId?: string }
  | { t: 'end'; id: string; at: number; ms: number; result: string; phase?: Phase; vm?: string; blackout?: boolean; marks?: EventMarks; outcome?: Outcome }
  | { t: 'fail'; id: string; at: number; ms: number; code: string; message: string; phase?: Phase; vm?: string; blackout?: boolean }
  | { t: 'done'; at: number; how: 'resumed' | 'aborted' };

export interface RunState {
  run: Extract<JournalRecord, { t: 'run' }>;
  records: JournalRecord[];
  /** steps recorded finished (ok, already-done or skipped), with their outcomes */
  done: Map<string, Outcome>;
  /** started, never recorded finished: the orchestrator died inside them */
  inFlight: Set<string>;
  failed: Map<string, { code: string; message: string }>;
  finished: boolean;
}

export function journalFile(dir: string, host: string): string {
  return join(dir, `${host.replace(/[^A-Za-z0-9_.@-]/g, '_')}.journal`);
}

/** Apply one record to the state of the last run (a `run` record starts a new one). */
export function apply(state: RunState | undefined, r: JournalRecord): RunState | undefined {
  if (r.t === 'run') return { run: r, records: [r], done: new Map(), inFlight: new Set(), failed: new Map(), finished: false };
  if (!state) return state;
  state.records.push(r);
  if (r.t === 'start') {
    state.inFlight.add(r.id);
    state.failed.delete(r.id);
  } else if (r.t === 'end') {
    state.inFlight.delete(r.id);
    state.done.set(r.id, r.outcome ?? {});
  } else if (r.t === 'fail') {
    state.inFlight.delete(r.id);
    state.failed.set(r.id, { code: r.code, message: r.message });
  } else if (r.t === 'done') state.finished = true;
  return state;
}

export function replay(records: JournalRecord[]): RunState | undefined {
  return records.reduce<RunState | undefined>(apply, undefined);
}

/** A journal's text (a file here, or one read from a host): a torn last line is expected, any other unreadable one is refused. */
export function parseJournal(text: string, where: string): JournalRecord[] {
  const out: JournalRecord[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as JournalRecord);
    } catch {
      // a torn last line from a crash mid-write is expected; anything else is not
      if (i < lines.length - 2) throw new LiveupdateError('JOURNAL_CONFLICT', `${where}:${i + 1}: unreadable journal record; move the file aside to start over`);
    }
  });
  return out;
}

/** Write-ahead journal: append-only NDJSON, fsync'd, one per host. */
export class Journal {
  private fd: number | undefined;
  state: RunState | undefined;

  private constructor(readonly file: string) {}

  static open(file: string): Journal {
    const j = new Journal(file);
    j.state = replay(Journal.read(file));
    return j;
  }

  static read(file: string): JournalRecord[] {
    return existsSync(file) ? parseJournal(readFileSync(file, 'utf8'), file) : [];
  }

  /** The open (unfinished) run, if any. */
  get openRun(): RunState | undefined {
    return this.state && !this.state.finished ? this.state : undefined;
  }

  /** Begin a run; a finished run's file is renamed aside first (atomically). */
  begin(run: Omit<Extract<JournalRecord, { t: 'run' }>, 't' | 'format'>): void {
    if (this.openRun) throw new Error('a run is already open');
    if (existsSync(this.file) && this.state) renameSync(this.file, `${this.file}.${this.state.run.runId}`);
    this.state = undefined;
    this.append({ t: 'run', format: JOURNAL_FORMAT_VERSION, ...run }, true);
  }

  append(r: JournalRecord, sync: boolean): void {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.file), { recursive: true });
      this.fd = openSync(this.file, 'a');
    }
    writeSync(this.fd, JSON.stringify(r) + '\n');
    if (sync) fsyncSync(this.fd);
    this.state = apply(this.state, r);
  }

  /** Flush everything written so far (before kexec: it drops the page cache). */
  sync(): void {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

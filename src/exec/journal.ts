import { closeSync, existsSync, fsyncSync, renameSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { readBounded, whyUnreadable } from '../bounded-read.js';
import { dirname, join } from 'node:path';
import { LiveupdateError } from '../errors.js';
import { openPrivate } from './files.js';
import type { ExecEvent, StepResult } from './events.js';
import type { Outcome } from './runners/env.js';
import type { Host } from '../host/host.js';

/**
 * 3: the journal is the executor's event log: a step's records are its events exactly as the
 * executor emitted them (step-start, step-end, step-failed: id, phase, VM, blackout, marks, outcome),
 * plus run, phase, blackout and done records, every record discriminated by `type`. Blackouts,
 * `status`, the agent's follower and the reporters all read that one shape.
 * 2 (read, for status and abort; an unfinished format-2 run is not continued): step records were
 * start/end/fail under `t`, their phase optional.
 */
export const JOURNAL_FORMAT_VERSION = 3;

type StepStart = Extract<ExecEvent, { type: 'step-start' }>;
type StepEnd = Extract<ExecEvent, { type: 'step-end' }>;
type StepFailed = Extract<ExecEvent, { type: 'step-failed' }>;

/** A step's event as journaled: the kexec's start names the boot it leaves; a step checked by hand (resume --mark-done) ends 'marked-done'. */
export type StepRecord =
  (StepStart & { bootId?: string }) | (Omit<StepEnd, 'result'> & { result: StepResult | 'marked-done' }) | StepFailed;

export type JournalRecord =
  | {
      type: 'run';
      format: number;
      runId: string;
      at: number;
      host: string;
      profile: string;
      backend: string;
      bootId: string;
      vms: Array<{ name: string; qmp: string }>;
    }
  /** the plan each command ran, as it was made */
  | { type: 'phase'; at: number; phases: string[]; bootId: string; plan?: unknown }
  | { type: 'blackout'; at: number; vms: Array<{ vm: string; ms: number; saveMs?: number; loadMs?: number; qemuDowntimeMs?: number }> }
  | StepRecord
  | { type: 'done'; at: number; how: 'resumed' | 'aborted' };

export const isStepRecord = (r: JournalRecord): r is StepRecord =>
  r.type === 'step-start' || r.type === 'step-end' || r.type === 'step-failed';

/** The step events of a journal, in order: what the executor emitted, across every process that wrote it. */
export function journalEvents(records: JournalRecord[]): ExecEvent[] {
  return records.filter(isStepRecord) as ExecEvent[];
}

/** One journal line as a record of this format: a format-2 record (`t`) is read into the event shape. */
export function parseRecord(line: string): JournalRecord {
  const o = JSON.parse(line) as Record<string, unknown>;
  if (typeof o['type'] === 'string' || typeof o['t'] !== 'string') return o as JournalRecord;
  const { t, ...rest } = o;
  const step = { phase: 'resume', blackout: false, ...rest };
  switch (t) {
    case 'start':
      return { ...step, type: 'step-start' } as JournalRecord;
    case 'end':
      return { ...step, type: 'step-end' } as JournalRecord;
    case 'fail':
      return { ...step, type: 'step-failed' } as JournalRecord;
    default:
      return { ...rest, type: t } as JournalRecord;
  }
}

export interface RunState {
  run: Extract<JournalRecord, { type: 'run' }>;
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

/** The journal a profile's host keeps in the profile's journal folder (on that host). */
export function profileJournal(p: { journal: { dir: string }; host: { name: string } }): string {
  return journalFile(p.journal.dir, p.host.name);
}

/** The run's point of no return (kexec -e) as it was started, once the run jumped; undefined before. */
export function jumped(st: RunState | undefined): Extract<JournalRecord, { type: 'step-start' }> | undefined {
  return st?.records.find(
    (r): r is Extract<JournalRecord, { type: 'step-start' }> => r.type === 'step-start' && r.marks?.pointOfNoReturn === true,
  );
}

/** The steps the run started and has not recorded done, in the order they started. */
export function pending(st: RunState): string[] {
  return st.records.flatMap((r) => (r.type === 'step-start' && !st.done.has(r.id) ? [r.id] : []));
}

/** Apply one record to the state of the last run (a `run` record starts a new one). */
export function apply(state: RunState | undefined, r: JournalRecord): RunState | undefined {
  if (r.type === 'run') return { run: r, records: [r], done: new Map(), inFlight: new Set(), failed: new Map(), finished: false };
  if (!state) return state;
  state.records.push(r);
  if (r.type === 'step-start') {
    state.inFlight.add(r.id);
    state.failed.delete(r.id);
  } else if (r.type === 'step-end') {
    state.inFlight.delete(r.id);
    state.done.set(r.id, r.outcome ?? {});
  } else if (r.type === 'step-failed') {
    state.inFlight.delete(r.id);
    state.failed.set(r.id, { code: r.code, message: r.message });
  } else if (r.type === 'done') state.finished = true;
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
      out.push(parseRecord(line));
    } catch {
      // a torn last line from a crash mid-write is expected; anything else is not
      if (i < lines.length - 2)
        throw new LiveupdateError('JOURNAL_CONFLICT', `${where}:${i + 1}: unreadable journal record; move the file aside to start over`);
    }
  });
  return out;
}

/**
 * A record is written when its whole line is: a process killed inside a write of a large record (the
 * kernel stops a write at a page boundary for SIGKILL) leaves part of a line at the end. Reading
 * skips it; before anything is appended it is cut off, so the next record does not run into it and
 * make a line in the middle of the journal unreadable.
 */
function dropTornTail(file: string, text: string): void {
  if (text === '' || text.endsWith('\n')) return;
  truncateSync(file, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
}

/** Room kept beside an open run's journal (JOURNAL.reserve): freed when its disk fills, so the window it is in can still be recorded to its end. */
export const JOURNAL_RESERVE_BYTES = 2 ** 20;

const diskFull = (err: unknown): boolean => ['ENOSPC', 'EDQUOT'].includes((err as NodeJS.ErrnoException).code ?? '');

/**
 * Write-ahead journal: append-only NDJSON, fsync'd, one per host. A run keeps JOURNAL_RESERVE_BYTES
 * of its disk in a file beside it; when a record finds the disk full, the reserve is given back, the
 * record written, and `onFull` told (the executor then starts no step outside the blackout window:
 * the window is recorded to its end, then the run stops with what is left in the journal).
 */
export class Journal {
  private fd: number | undefined;
  state: RunState | undefined;
  /** why the disk filled (the reserve is spent): set once, when it happened */
  full: LiveupdateError | undefined;
  /** told once when the disk fills and the reserve is spent */
  onFull: ((why: LiveupdateError) => void) | undefined;

  private constructor(readonly file: string) {}

  static open(file: string): Journal {
    const j = new Journal(file);
    // the file read once: replayed, then its torn tail (if any) cut off
    const text = existsSync(file) ? readJournalText(file) : undefined;
    j.state = replay(text === undefined ? Journal.read(file) : parseJournal(text, file));
    if (text !== undefined) dropTornTail(file, text);
    return j;
  }

  /** No file is no run yet; a journal folder that is not a folder (a FIFO, a device, a file) is refused. */
  static read(file: string): JournalRecord[] {
    if (existsSync(file)) return parseJournal(readJournalText(file), file);
    const dir = dirname(file);
    let isDir: boolean;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (err) {
      // a folder not made yet is no run yet; one that cannot be reached (a loop of links, a file on its path) is refused
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new LiveupdateError('JOURNAL_CONFLICT', `${dir}: cannot read it as a journal folder: ${whyUnreadable(err)}`, { cause: err });
    }
    if (!isDir)
      throw new LiveupdateError('JOURNAL_CONFLICT', `${dir} is not a folder: liveupdate keeps its journals in a folder of their own`);
    return [];
  }

  /** The open (unfinished) run, if any. */
  get openRun(): RunState | undefined {
    return this.state && !this.state.finished ? this.state : undefined;
  }

  /** Begin a run; a finished run's file is renamed aside first (atomically). Refused, with nothing done, when its disk has no room for the reserve. */
  begin(run: Omit<Extract<JournalRecord, { type: 'run' }>, 'type' | 'format'>): void {
    if (this.openRun) throw new Error('a run is already open');
    this.reserve(true);
    if (existsSync(this.file) && this.state) renameSync(this.file, `${this.file}.${this.state.run.runId}`);
    this.state = undefined;
    this.append({ type: 'run', format: JOURNAL_FORMAT_VERSION, ...run }, true);
  }

  /** The reserve beside the journal, made when it is not there; `required`: a disk without room for it refuses the run (else it goes on without one). */
  reserve(required: boolean): void {
    const file = `${this.file}.reserve`;
    if (existsSync(file)) return;
    try {
      const fd = openPrivate(file, 'create');
      try {
        writeAll(fd, Buffer.alloc(JOURNAL_RESERVE_BYTES));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      rmSync(file, { force: true });
      if (!required) return;
      if (!diskFull(err)) throw err;
      throw new LiveupdateError(
        'JOURNAL_FULL',
        `${dirname(this.file)} has no room for a run's journal and its ${JOURNAL_RESERVE_BYTES / 2 ** 20} MiB reserve (${(err as Error).message}); nothing was done`,
        { hint: `free space on the file system of ${dirname(this.file)}, then run the same command again` },
      );
    }
  }

  append(r: JournalRecord, sync: boolean): void {
    if (this.fd === undefined) {
      this.fd = openPrivate(this.file);
    }
    const bytes = Buffer.from(JSON.stringify(r) + '\n');
    try {
      writeAll(this.fd, bytes);
      if (sync) fsyncSync(this.fd);
    } catch (err) {
      if (!diskFull(err) || !this.spendReserve(err)) throw err;
      // the record goes on from where the full disk cut it: never a torn line between records
      writeAll(this.fd, bytes.subarray(partial(err)));
      if (sync) fsyncSync(this.fd);
    }
    this.state = apply(this.state, r);
    if (r.type === 'done') rmSync(`${this.file}.reserve`, { force: true });
  }

  /** Give the reserve back to the full disk, once; false when there is none left to give. */
  private spendReserve(err: unknown): boolean {
    const file = `${this.file}.reserve`;
    if (this.full !== undefined || !existsSync(file)) return false;
    rmSync(file, { force: true });
    this.full = new LiveupdateError(
      'JOURNAL_FULL',
      `the journal's disk (${dirname(this.file)}) is full (${(err as Error).message}); its reserve was freed so that the blackout window is recorded to its end`,
      {
        hint: `free space on the file system of ${dirname(this.file)}; then liveupdate status says where the run is, and the same command continues it`,
      },
    );
    this.onFull?.(this.full);
    return true;
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

/** Write all of `bytes` at the fd's offset; when a write fails part-way, the error carries how far it got (`written`). */
function writeAll(fd: number, bytes: Buffer): void {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (err) {
      (err as { written?: number }).written = off;
      throw err;
    }
  }
}

/** How far a write got before it failed (writeAll's count; none when the failure was not a write's). */
const partial = (err: unknown): number => (err as { written?: number }).written ?? 0;

/** The host's journal records (the agent writes them), or [] when there is none. */
export async function readRemoteJournal(host: Host, journal: string): Promise<JournalRecord[]> {
  const r = await host.exec(['cat', journal]);
  return r.exitCode === 0 ? parseJournal(r.stdout, `${host.name}:${journal}`) : [];
}

/** Journals are read bounded and only as regular files (a FIFO or a device put in their place is refused, never read without end). */
export const MAX_JOURNAL_BYTES = 256 * 2 ** 20;
export function readJournalText(file: string): string {
  try {
    return readBounded(file, MAX_JOURNAL_BYTES);
  } catch (err) {
    throw new LiveupdateError('JOURNAL_CONFLICT', `${file}: cannot read it as a journal: ${whyUnreadable(err)}`, {
      cause: err,
    });
  }
}

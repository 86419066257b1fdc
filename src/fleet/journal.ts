/**
 * The fleet journal: one NDJSON file per fleet run (<fleet dir>/<run id>/fleet.journal), written
 * ahead and fsync'd, so `fleet run --resume ID` knows which hosts finished, which stopped mid-way
 * (their own host journals, next to it, resume them) and which were never started.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LiveupdateError } from '../errors.js';
import type { Blackout } from '../exec/events.js';
import { openPrivate } from '../exec/files.js';

export type HostState = 'ok' | 'failed' | 'unreachable' | 'not-started';

export interface HostReport {
  host: string;
  batch: number;
  state: HostState;
  /** the last phase with a finished step */
  phaseReached?: string;
  blackouts: Blackout[];
  ms: number;
  error?: string;
  /** already ok in an earlier attempt of this run (--resume) */
  earlier?: boolean;
}

export type FleetRecord =
  | { t: 'fleet-run'; format: number; runId: string; at: number; inventory: string; limit?: string; batches: string[][]; maxFailPercentage: number }
  | { t: 'resume'; at: number }
  | { t: 'host-start'; host: string; batch: number; at: number }
  | ({ t: 'host-end'; at: number } & HostReport)
  | { t: 'batch-end'; batch: number; failed: number; size: number; at: number }
  | { t: 'stopped'; at: number; reason: string }
  | { t: 'done'; at: number; ok: boolean };

/** The fleet journal's format, in its first record; a run journaled in another format is not resumed. */
export const FLEET_JOURNAL_FORMAT_VERSION = 1;

export class FleetJournal {
  readonly dir: string;
  readonly file: string;
  private fd: number;

  private constructor(dir: string) {
    this.dir = dir;
    this.file = join(dir, 'fleet.journal');
    this.fd = openPrivate(this.file);
  }

  static create(fleetDir: string, runId: string): FleetJournal {
    const dir = join(fleetDir, runId);
    if (existsSync(join(dir, 'fleet.journal'))) throw new LiveupdateError('JOURNAL_CONFLICT', `fleet run ${runId} already exists in ${fleetDir}`);
    return new FleetJournal(dir);
  }

  static open(fleetDir: string, runId: string): FleetJournal {
    const dir = join(fleetDir, runId);
    if (!existsSync(join(dir, 'fleet.journal'))) throw new LiveupdateError('USAGE', `no fleet run ${runId} in ${fleetDir}`, { hint: 'liveupdate fleet status lists the runs' });
    return new FleetJournal(dir);
  }

  /** The host journals of this run, one directory per inventory host. */
  hostJournalDir(host: string): string {
    return join(this.dir, 'hosts', host);
  }

  append(r: FleetRecord): void {
    appendFileSync(this.fd, JSON.stringify(r) + '\n');
    fsyncSync(this.fd);
  }

  records(): FleetRecord[] {
    return readFleetRecords(this.file);
  }

  close(): void {
    closeSync(this.fd);
  }
}

export function readFleetRecords(file: string): FleetRecord[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: FleetRecord[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as FleetRecord);
    } catch {
      // a torn last line (a crash mid-write) is expected: everything before it was fsync'd; anything else is not
      if (i < lines.length - 2) throw new LiveupdateError('JOURNAL_CONFLICT', `${file}:${i + 1}: unreadable fleet journal record`, { hint: 'the run cannot be resumed from this file; move it aside and start a new run' });
    }
  });
  const first = out[0];
  if (first?.t === 'fleet-run' && first.format !== FLEET_JOURNAL_FORMAT_VERSION) {
    throw new LiveupdateError('JOURNAL_CONFLICT', `${file}: fleet run ${first.runId} was journaled in format ${String(first.format)}; this liveupdate reads format ${FLEET_JOURNAL_FORMAT_VERSION}`, {
      hint: 'finish or read it with the liveupdate version that started it',
    });
  }
  return out;
}

/** Each host's last recorded outcome, and which hosts started without an end. */
export function fleetState(records: FleetRecord[]): { run?: Extract<FleetRecord, { t: 'fleet-run' }>; ended: Map<string, HostReport>; started: Set<string>; stopped?: string; done?: boolean } {
  const ended = new Map<string, HostReport>();
  const started = new Set<string>();
  let run: Extract<FleetRecord, { t: 'fleet-run' }> | undefined;
  let stopped: string | undefined;
  let done: boolean | undefined;
  for (const r of records) {
    if (r.t === 'fleet-run') run = r;
    if (r.t === 'host-start') started.add(r.host);
    if (r.t === 'host-end') {
      ended.set(r.host, { host: r.host, batch: r.batch, state: r.state, blackouts: r.blackouts, ms: r.ms, ...(r.phaseReached ? { phaseReached: r.phaseReached } : {}), ...(r.error ? { error: r.error } : {}), ...(r.earlier ? { earlier: r.earlier } : {}) });
      started.delete(r.host);
    }
    if (r.t === 'stopped') stopped = r.reason;
    if (r.t === 'resume') {
      stopped = undefined;
      done = undefined;
    }
    if (r.t === 'done') done = r.ok;
  }
  return { ...(run ? { run } : {}), ended, started, ...(stopped ? { stopped } : {}), ...(done !== undefined ? { done } : {}) };
}

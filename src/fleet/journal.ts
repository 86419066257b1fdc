/**
 * The fleet journal: one NDJSON file per fleet run (<fleet dir>/<run id>/fleet.journal), written
 * ahead and fsync'd, so `fleet run --resume ID` knows which hosts finished, which stopped mid-way
 * (their own host journals, next to it, resume them) and which were never started.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { LiveupdateError } from '../errors.js';
import { openPrivate } from '../exec/files.js';
import { readJournalText } from '../exec/journal.js';
import type { FleetFact, HostReport } from './events.js';

/** The journal's first record: which run this is (as the host journal's `run` record is for a host). */
export interface FleetRunRecord {
  type: 'fleet';
  format: number;
  runId: string;
  at: number;
  inventory: string;
  limit?: string;
  batches: string[][];
  maxFailPercentage: number;
}

/**
 * A fleet journal record: the header, then the fleet's own events as they were emitted, each with
 * its time, and `done` when the run ended with nothing left to resume (every host ok) or stopped.
 */
export type FleetRecord = FleetRunRecord | (FleetFact & { at: number }) | { type: 'done'; at: number; ok: boolean };

/** The fleet journal's format, in its first record; a run journaled in another format is not resumed. */
export const FLEET_JOURNAL_FORMAT_VERSION = 2;

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
    if (existsSync(join(dir, 'fleet.journal')))
      throw new LiveupdateError('JOURNAL_CONFLICT', `fleet run ${runId} already exists in ${fleetDir}`);
    return new FleetJournal(dir);
  }

  static open(fleetDir: string, runId: string): FleetJournal {
    const dir = join(fleetDir, runId);
    if (!existsSync(join(dir, 'fleet.journal')))
      throw new LiveupdateError('USAGE', `no fleet run ${runId} in ${fleetDir}`, { hint: 'liveupdate fleet status lists the runs' });
    return new FleetJournal(dir);
  }

  /** The host journals of this run, one directory per inventory host. */
  hostJournalDir(host: string): string {
    return join(this.dir, 'hosts', host);
  }

  /** The first record of a new run. */
  begin(run: Omit<FleetRunRecord, 'type' | 'format'>): void {
    this.append({ type: 'fleet', format: FLEET_JOURNAL_FORMAT_VERSION, ...run });
  }

  /** One of the fleet's events, as it is emitted, with the time it is written. */
  record(e: FleetFact | { type: 'done'; ok: boolean }): void {
    this.append({ ...e, at: Date.now() });
  }

  /** Written ahead and fsync'd: what is in the file happened, or was about to. */
  private append(r: FleetRecord): void {
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
  const lines = readJournalText(file).split('\n');
  const out: FleetRecord[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as FleetRecord);
    } catch {
      // a torn last line (a crash mid-write) is expected: everything before it was fsync'd; anything else is not
      if (i < lines.length - 2)
        throw new LiveupdateError('JOURNAL_CONFLICT', `${file}:${i + 1}: unreadable fleet journal record`, {
          hint: 'the run cannot be resumed from this file; move it aside and start a new run',
        });
    }
  });
  // format 1 (before the fleet journal was the fleet's event log) named its kind `t`
  const first = out[0] as unknown as { type?: string; t?: string; format?: number; runId?: string } | undefined;
  const format = first?.type === 'fleet' ? first.format : first?.t === 'fleet-run' ? first.format : undefined;
  if (first && format !== FLEET_JOURNAL_FORMAT_VERSION) {
    throw new LiveupdateError(
      'JOURNAL_CONFLICT',
      `${file}: fleet run ${first.runId ?? '?'} was journaled in format ${String(format)}; this liveupdate reads format ${FLEET_JOURNAL_FORMAT_VERSION}`,
      {
        hint: 'finish or read it with the liveupdate version that started it',
      },
    );
  }
  return out;
}

/** The run replayed from its journal: each host's last outcome, which hosts started without an end, why it stopped, whether it is done. */
export function fleetState(records: FleetRecord[]): {
  run?: FleetRunRecord;
  ended: Map<string, HostReport>;
  started: Set<string>;
  stopped?: string;
  done?: boolean;
} {
  const ended = new Map<string, HostReport>();
  const started = new Set<string>();
  let run: FleetRunRecord | undefined;
  let stopped: string | undefined;
  let done: boolean | undefined;
  for (const r of records) {
    if (r.type === 'fleet') run = r;
    if (r.type === 'host-start') started.add(r.host);
    if (r.type === 'host-end') {
      ended.set(r.host, {
        host: r.host,
        batch: r.batch,
        state: r.state,
        blackouts: r.blackouts,
        ms: r.ms,
        ...(r.phaseReached ? { phaseReached: r.phaseReached } : {}),
        ...(r.error ? { error: r.error } : {}),
        ...(r.earlier ? { earlier: r.earlier } : {}),
      });
      started.delete(r.host);
    }
    if (r.type === 'stopped') stopped = r.reason;
    // a resumed run starts again from what it had
    if (r.type === 'fleet-run' && r.resumed) {
      stopped = undefined;
      done = undefined;
    }
    if (r.type === 'done') done = r.ok;
  }
  return { ...(run ? { run } : {}), ended, started, ...(stopped ? { stopped } : {}), ...(done !== undefined ? { done } : {}) };
}

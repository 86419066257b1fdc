/**
 * What a fleet run says as it goes: one shape for the reporters (emitted) and for the fleet journal
 * (recorded, with a time), as a host's executor events are for its reporters and its journal.
 */
import type { Blackout, ExecEvent } from '../exec/events.js';

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
  /** skipped: the host was where the update would take it already (why) */
  upToDate?: string;
  /** already ok in an earlier attempt of this run (--resume) */
  earlier?: boolean;
}

export type FleetEvent =
  | { type: 'fleet-run'; runId: string; hosts: number; batches: string[][]; resumed: boolean }
  | { type: 'batch-start'; batch: number; hosts: string[] }
  | { type: 'host-start'; host: string; batch: number }
  | { type: 'host-step'; host: string; event: ExecEvent }
  | ({ type: 'host-end' } & HostReport)
  | { type: 'gate'; host: string; ok: boolean; message?: string }
  | { type: 'batch-end'; batch: number; failed: number; size: number }
  | { type: 'stopped'; reason: string };

/** The events that are facts of the fleet run itself; a host's step events are its own journal's. */
export type FleetFact = Exclude<FleetEvent, { type: 'host-step' }>;

/**
 * What the control node leaves on the host for the agent (request.json in a spool folder of its own)
 * and what the agent leaves for whoever follows (result.json). Both sides read this file only.
 */
import { DEFAULT_AGENT_DIR } from '../defaults.js';
import type { ExecuteResult } from '../exec/executor.js';
import type { HostFacts } from '../facts/types.js';
import type { Plan } from '../plan/types.js';

/**
 * What the agent install puts on a host lives here (the journal is beside it: the profile's
 * journal.dir). LIVEUPDATE_AGENT_DIR moves it (the integration tests, which run on the test machine).
 */
export const AGENT_DIR = process.env['LIVEUPDATE_AGENT_DIR'] ?? DEFAULT_AGENT_DIR;
/** The wrapper that starts the agent: the runtime and the bundle it names, both by content. */
export const AGENT_BIN = `${AGENT_DIR}/liveupdate-agent`;
/** One spool folder per request; `latest` points at the newest. */
export const AGENT_RUNS = `${AGENT_DIR}/runs`;

export interface AgentRequest {
  requestId: string;
  /** user@control-node, for the lock and status */
  who: string;
  at: number;
  command: string;
  /** the exact plan the control node showed; the agent refuses it on another boot (executor: FACTS_MISMATCH) */
  plan: Plan;
  /**
   * The facts the plan was made from, as the control node probed them; the agent probes again and
   * refuses the plan if the host reads otherwise now. Absent when the plan was made from a facts file
   * (`--facts`): then there is nothing probed to compare with, and the agent says so.
   */
  facts?: HostFacts;
  /** made from the same facts: run when a guard fails before the point of no return */
  abortPlan?: Plan;
  journal: string;
  /** the static native helper the plan's helper steps run */
  helper: string;
}

export type AgentResult =
  | ({ requestId: string; at: number; bootId: string; state: 'finished' } & ExecuteResult)
  /** the agent could not run the plan at all (the host is busy, the facts are of another boot...) */
  | { requestId: string; at: number; bootId: string; state: 'refused'; code: string; message: string; hint?: string };

export const lockFile = (journal: string): string => `${journal}.lock`;

/** In each spool: `PID BOOT_ID` of the agent running the request, so a follower can tell a dead agent from a slow one. */
export const PID_FILE = 'agent.pid';

/**
 * Every document a command prints whole with `--json` (one JSON value, not a stream), as one union:
 * Reporter.result() takes only these, and schemas/document.schema.json is generated from
 * PrintedDocument (npm run schemas), so the published schema is what the code writes. A streaming
 * command's last line carries the same documents (schemas/events.schema.json).
 */
import type { AgentInstallPreview } from '../app/agent-install.js';
import type { HostPlanRow } from '../app/fleet.js';
import type { DemoResult } from '../app/demo.js';
import type { StatusDocument } from '../app/status.js';
import type { Diagnostic } from '../errors.js';
import type { HostFacts } from '../facts/types.js';
import type { HostReport } from '../fleet/events.js';
import type { SavedPlan } from '../plan/saved.js';
import type { Profile } from '../profile/types.js';
import type { ExecuteResult } from '../exec/executor.js';
import type { Plan } from '../plan/types.js';

/** The `--json` document of `plan` (and of a phase command's `--dry-run`): the plan, with what it is. */
export type PlanDocument = { type: 'plan'; savedTo?: string; agentInstall?: AgentInstallPreview } & Plan;

/** A phase command's event: the agent is about to be installed on the host (what is copied, before it is). */
export type InstallLine = { type: 'installing' } & AgentInstallPreview;

/** The last line of a phase command; `journal`: a file on this machine, or HOST:PATH (the agent's, on the host). */
export type RunResultLine = { type: 'result'; command: string; journal: string } & ExecuteResult;

/** The last line of a phase command that had nothing to do: the host is where the update would take it (why, in upToDate); no run, no journal. */
export interface UpToDateLine {
  type: 'result';
  command: string;
  host: string;
  ok: true;
  changed: false;
  upToDate: string;
  failures: [];
  blackouts: [];
}

/** A failure that ends the command (also the whole output when it comes before any event). */
export interface ErrorLine {
  type: 'error';
  formatVersion: 1;
  /** a stable code (errors.ts ErrorCode), or BUG */
  code: string;
  message: string;
  diagnostics?: Diagnostic[];
  hint?: string;
  warnings?: Diagnostic[];
  /** only for BUG: what to report */
  stack?: string;
}

/** `facts --json`: the probe's facts. */
export type FactsDocument = { type: 'facts' } & HostFacts;

/** `validate --json`: the profile as liveupdate reads it (sizes in bytes, durations in ms, defaults filled in). */
export interface ValidatedDocument {
  type: 'validated';
  file: string;
  valid: true;
  profile: Profile;
}

/** `host install --json`: where the agent, its runtime and the helper went, and the boot-time unit on systemd hosts. */
export interface InstallDocument {
  type: 'install';
  host: string;
  /** --dry-run: nothing was installed; the preview says what would be */
  dryRun?: boolean;
  bin?: string;
  helper?: string;
  runtime?: string;
  unit?: string;
  /** what was (or, with --dry-run, would be) copied, and what was there already */
  preview?: AgentInstallPreview;
}

/** `host uninstall --json`: what was removed. */
export interface UninstallDocument {
  type: 'uninstall';
  host: string;
  removed: string[];
  /** what liveupdate leaves there: the records of past runs (journals; --purge removes them) */
  kept: string[];
}

/** `profile import --json`: the domains named; the profile's text, or the file it was written to. */
export interface ProfileImportedDocument {
  type: 'profile-imported';
  domains: string[];
  file?: string;
  text?: string;
}

/** `completion bash|zsh --json`: the script. */
export interface CompletionDocument {
  type: 'completion';
  shell: 'bash' | 'zsh';
  script: string;
}

/** `fleet plan --json`: the batches in order (the first is batch 1 in the text) and each host's plan. */
export interface FleetPlanDocument {
  type: 'fleet-plan';
  inventory: string;
  batches: string[][];
  hosts: HostPlanRow[];
}

/** What `fleet run` ends with, also written to the run's report.json. */
export interface FleetReport {
  type: 'fleet-report';
  runId: string;
  ok: boolean;
  stopped: string | null;
  dir: string;
  hosts: HostReport[];
}

/** `fleet status --json`: the run, its state, each host's account. */
export interface FleetStatusDocument {
  type: 'fleet-status';
  runId: string | null;
  state: string;
  hosts: HostReport[];
}

/** What a command may pass to Reporter.result(). */
export type JsonDocument =
  | PlanDocument
  | SavedPlan
  | FactsDocument
  | ValidatedDocument
  | StatusDocument
  | InstallDocument
  | UninstallDocument
  | ProfileImportedDocument
  | CompletionDocument
  | FleetPlanDocument
  | FleetStatusDocument
  | FleetReport
  | DemoResult
  | RunResultLine
  | UpToDateLine;

/** A document as `--json` prints it: its format version (its own, else 1) and the warnings held until then. */
export type PrintedDocument = (JsonDocument & { formatVersion: number; warnings?: Diagnostic[] }) | ErrorLine;

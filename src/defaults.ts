/**
 * Where liveupdate keeps things, and the port it uses, unless told otherwise. Constants only: the
 * CLI's help names them without loading the code that uses them.
 */

/** What the agent install puts on a host (LIVEUPDATE_AGENT_DIR moves it, for the integration tests). */
export const DEFAULT_AGENT_DIR = '/var/lib/liveupdate/agent';
/** The journals of runs this control node drives over SSH (`--via ssh`), one per host. */
export const REMOTE_JOURNAL_DIR = '/var/lib/liveupdate/remote';
/** Fleet runs: one folder per run (its journal, each host's journal, the report). */
export const DEFAULT_FLEET_DIR = '/var/lib/liveupdate/fleet';
/** hosts probed at once by `fleet plan` and `fleet run --dry-run` */
export const DEFAULT_FORKS = 50;
/** The demo's lab host: its SSH on this loopback port. */
export const DEMO_PORT = 10022;
/** The backends `liveupdate demo --backend` shows (one lab host each). */
export const DEMO_BACKENDS = ['pmem', 'luo', 'pkernfs'] as const;
export type DemoBackend = (typeof DEMO_BACKENDS)[number];

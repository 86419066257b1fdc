/**
 * The agent's entry point, bundled on its own (dist/agent/liveupdate-agent.cjs, no CLI and no npm
 * dependency in it): at boot it starts inside the VMs' blackout, so it loads as little as it can.
 */
import { agentMain } from './agent.js';

// SIGTERM (systemd stopping it, a shutdown) or SIGINT: stop between steps, never inside a blackout
// window (a paused VM runs again first); before the kexec what was begun is aborted
const stop = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => stop.abort(sig));

agentMain(process.argv.slice(2), stop.signal).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`liveupdate-agent: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  },
);

/**
 * The agent's entry point, bundled on its own (dist/agent/liveupdate-agent.mjs, no CLI and no npm
 * dependency in it): at boot it starts inside the VMs' blackout, so it loads as little as it can.
 */
import { agentMain } from './agent.js';

agentMain(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`liveupdate-agent: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  },
);

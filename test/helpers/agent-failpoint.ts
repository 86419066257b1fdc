/**
 * The crash tests' failpoint, preloaded into the on-host agent (NODE_OPTIONS=--import=THIS, inherited
 * through the CLI): the agent publishes each journalled step end on the diagnostics channel
 * `liveupdate:agent:step-end` (src/agent/agent.ts); with LU_TEST_STOP_AFTER_STEPS=N this stops the
 * process (SIGSTOP) at the N-th, so the test kills it at exactly that boundary instead of racing it.
 */
import { subscribe } from 'node:diagnostics_channel';

const n = Number(process.env['LU_TEST_STOP_AFTER_STEPS'] ?? 0);
if (n > 0) {
  subscribe('liveupdate:agent:step-end', (m) => {
    if ((m as { count: number }).count === n) process.kill(process.pid, 'SIGSTOP');
  });
}

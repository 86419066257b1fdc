/**
 * The crash tests' failpoint, preloaded (NODE_OPTIONS=--import=THIS, inherited through the CLI):
 * the agent publishes each journalled step end on the diagnostics channel `liveupdate:agent:step-end`
 * (src/agent/agent.ts); with LU_TEST_STOP_AFTER_STEPS=N this stops the process (SIGSTOP) at the N-th.
 * Any executor (the CLI's too) publishes `liveupdate:exec:step-end` once the step end is journalled
 * and reported; with LU_TEST_STOP_AT_STEP=ID this stops the process right after that step. Either
 * way the test kills it at exactly that boundary instead of racing it.
 */
import { subscribe } from 'node:diagnostics_channel';

const n = Number(process.env['LU_TEST_STOP_AFTER_STEPS'] ?? 0);
if (n > 0) {
  subscribe('liveupdate:agent:step-end', (m) => {
    if ((m as { count: number }).count === n) process.kill(process.pid, 'SIGSTOP');
  });
}

const at = process.env['LU_TEST_STOP_AT_STEP'];
if (at) {
  subscribe('liveupdate:exec:step-end', (m) => {
    if ((m as { id: string }).id === at) process.kill(process.pid, 'SIGSTOP');
  });
}

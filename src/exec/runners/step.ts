/** One step of a plan, performed on the host: the dispatch to each kind's runner. */
import { LiveupdateError } from '../../errors.js';
import type { Step } from '../../plan/types.js';
import { QmpPool } from '../../qemu/pool.js';
import { sh, type Outcome, type RunEnv } from './env.js';
import { runHelperStep } from './helper.js';
import { runQemuAdopt, runQemuStart, runQmp } from './qemu.js';
import { runVerify } from './verify.js';

/** Perform one step on the host. Throws a LiveupdateError that says what happened to the VM. */
export async function runStep(step: Step, env: RunEnv): Promise<Outcome> {
  switch (step.kind) {
    case 'exec':
    case 'mount':
    case 'umount':
    case 'kexec-load':
      await sh(env, step.argv, step.id);
      return {};
    case 'kexec-exec': {
      // Detached, so the call returns at once instead of hanging until the dead connection times
      // out; verify-boot then proves the jump. (A local orchestrator dies with the old kernel.)
      const r = await env.host
        .exec(['sh', '-c', '(sleep 0.2; exec "$@") </dev/null >/dev/null 2>&1 &', 'sh', ...step.argv], { timeoutMs: 15_000 })
        .catch(() => undefined);
      if (r && r.exitCode !== 0)
        throw new LiveupdateError(
          'STEP_FAILED',
          `could not start ${step.argv.join(' ')} (exit ${r.exitCode}): ${r.stderr.trim()}; the host is still on its old kernel`,
        );
      env.host.reset?.();
      env.qmp = new QmpPool(env.host);
      return {};
    }
    case 'file':
      for (const argv of step.argv) await sh(env, argv, step.id);
      return { size: step.size };
    case 'sysfs-write':
      await sh(env, ['sh', '-c', 'printf %s "$1" > "$2"', 'sh', step.value, step.path], step.id);
      return {};
    case 'cmdline':
      if (step.bootloaderFile) await env.host.put(step.bootloaderText ?? '', step.bootloaderFile, 0o644);
      await sh(env, step.argv, step.id, 300_000);
      return {};
    case 'qmp':
      return runQmp(step, env);
    case 'qemu-start':
      return runQemuStart(step, env);
    case 'qemu-adopt':
      return runQemuAdopt(step, env);
    case 'verify':
      return runVerify(step.verify, env);
    case 'helper-ioctl':
      return runHelperStep(step, env);
  }
}

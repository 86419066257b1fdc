/** One step of a plan, performed on the host: the dispatch to each kind's runner. */
import { LiveupdateError } from '../../errors.js';
import type { Step } from '../../plan/types.js';
import { QmpPool } from '../../qemu/pool.js';
import { sh, type Outcome, type RunEnv } from './env.js';
import { runHelperStep } from './helper.js';
import { runQemuAdopt, runQemuStart, runQmp } from './qemu.js';
import { imageIdentity, runVerify } from './verify.js';

/**
 * Each folder in "$@" made where missing (0700) and refused unless it is a real folder of this user
 * that group and others cannot write in: QEMU creates a VM's sockets there, unlinking what is in the way.
 */
const PRIVATE_DIRS_SCRIPT = `
me=$(id -u)
for d in "$@"; do
  [ -L "$d" ] && { echo "$d is a symlink: liveupdate keeps a VM's sockets only in a real folder of its own" >&2; exit 3; }
  [ -d "$d" ] || mkdir -p -m 0700 -- "$d" || exit 3
  o=$(stat -c '%u %a' -- "$d") || exit 3
  u=\${o% *}; m=\${o#* }
  [ "$u" = "$me" ] || { echo "$d belongs to uid $u, not to this user ($me): liveupdate keeps a VM's sockets only in its own folders" >&2; exit 3; }
  [ $(( 0$m & 022 )) -eq 0 ] || { echo "$d is writable by group or others (mode $m): another user could put a file where QEMU creates a VM's socket; chmod go-w $d, or choose another runtime.dir" >&2; exit 3; }
done
`;

/** "$1" is a folder with nothing in it (mounting over it hides nothing): then the mount, the rest of "$@", in the same round trip. */
const MOUNT_ON_EMPTY_SCRIPT = `
[ -d "$1" ] || { echo "$1 is not a folder: nothing was mounted" >&2; exit 3; }
[ -z "$(ls -A -- "$1" | head -n 1)" ] || { echo "$1 has files in it now: mounting there would hide them until the kexec phase unmounts it; nothing was mounted" >&2; exit 3; }
shift
exec "$@"
`;

/** Perform one step on the host. Throws a LiveupdateError that says what happened to the VM. */
export async function runStep(step: Step, env: RunEnv): Promise<Outcome> {
  switch (step.kind) {
    case 'mount':
      // judged again now, on the host (the facts said it was missing or empty when the plan was made), and
      // mounted in the same round trip: this step is inside the window on resume
      await sh(env, ['sh', '-c', MOUNT_ON_EMPTY_SCRIPT, 'sh', step.target, ...step.argv], step.id);
      return {};
    case 'kexec-load': {
      await sh(env, step.argv, step.id);
      // what was staged, for the boot proof after the jump
      return imageIdentity(env, step.image);
    }
    case 'exec':
    case 'umount':
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
    case 'private-dirs':
      await sh(env, ['sh', '-c', PRIVATE_DIRS_SCRIPT, 'sh', ...step.paths], step.id);
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

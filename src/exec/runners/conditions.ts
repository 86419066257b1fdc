/**
 * What the host shows now, for a step's "done when" (skip it: already done) and "only if" (run it
 * only then) conditions. Looks only; changes nothing.
 */
import { kernelWords } from '../../kernel-cmdline.js';
import { holderRequest } from '../../native/helper.js';
import type { Check } from '../../plan/types.js';
import { fill, statusOf, type RunEnv } from './env.js';

/** The QMP socket a VM check asks: the one it names (a cpr-transfer's new QEMU), else the VM's own. */
function qmpOf(check: { vm: string; socket?: string }, env: RunEnv): string {
  return check.socket ? fill(check.socket, env.vars) : (env.vars[`qmp.${check.vm}`] ?? '');
}

/** Is `check` true on the host now? (`journal`: did this run already record the step done?) */
export async function hostShows(check: Check, env: RunEnv, stepId: string): Promise<boolean> {
  switch (check.kind) {
    case 'path-exists':
      return (await env.host.exec(['test', '-e', fill(check.path, env.vars)])).exitCode === 0;
    case 'mounted':
    case 'not-mounted': {
      const mounts = (await env.host.exec(['cat', '/proc/mounts'])).stdout.split('\n').map((l) => l.split(' '));
      const m = mounts.some((f) => f[1] === check.target && (check.kind === 'not-mounted' || f[2] === check.fstype));
      return check.kind === 'mounted' ? m : !m;
    }
    case 'cmdline-has': {
      const words = kernelWords((await env.host.exec(['cat', '/proc/cmdline'])).stdout);
      return check.params.every((p) => words.includes(p));
    }
    case 'kexec-loaded':
      return (await env.host.exec(['cat', '/sys/kernel/kexec_loaded'])).stdout.trim() === '1';
    case 'pci-driver': {
      const r = await env.host.exec(['readlink', `/sys/bus/pci/devices/${check.address}/driver`]);
      return r.exitCode === 0 && r.stdout.trim().endsWith(`/${check.driver}`);
    }
    case 'vm-status': {
      const st = await statusOf(env, qmpOf(check, env));
      return st !== undefined && check.status.includes(st);
    }
    case 'vm-gone':
      return (await env.qmp.alive(qmpOf(check, env))) === undefined;
    case 'process-alive':
      return (
        (
          await env.host.exec([
            'sh',
            '-c',
            'p=$(cat "$1" 2>/dev/null) && case $p in ""|*[!0-9]*) exit 1 ;; esac && s=$(sed "s/.*) //" "/proc/$p/stat" 2>/dev/null) && [ "${s%% *}" != Z ]',
            'sh',
            fill(check.pidfile, env.vars),
          ])
        ).exitCode === 0
      );
    case 'all':
      for (const c of check.checks) if (!(await hostShows(c, env, stepId))) return false;
      return true;
    case 'not':
      return !(await hostShows(check.check, env, stepId));
    case 'boot-changed':
      return (
        env.vars['boot.recorded'] !== undefined &&
        (await env.host.exec(['cat', '/proc/sys/kernel/random/boot_id'])).stdout.trim() !== env.vars['boot.recorded']
      );
    case 'pmem-mode': {
      const dev = fill(check.device, env.vars).replace('/dev/', '');
      const r = await env.host.exec(['cat', `/sys/block/${dev}/device/mode`]);
      return r.exitCode === 0 && ['memory', 'fsdax'].includes(r.stdout.trim()) && check.mode === 'fsdax';
    }
    case 'has-filesystem': {
      const r = await env.host.exec(['blkid', '-o', 'value', '-s', 'TYPE', fill(check.device, env.vars)]);
      return r.exitCode === 0 && r.stdout.trim() === check.fstype;
    }
    case 'helper-has':
    case 'helper-absent': {
      const st = await holderRequest(env.host, check.socket, { op: 'status' }, 5000).catch(() => undefined);
      if (check.kind === 'helper-absent') return !st?.ok;
      return st?.ok === true && Object.keys(st['handles'] ?? {}).includes(check.handle);
    }
    case 'domain-state': {
      const r = await env.host.exec(['virsh', '-c', check.uri, 'domstate', '--', check.domain]);
      return r.exitCode === 0 && check.states.includes(r.stdout.trim());
    }
    case 'journal':
      return env.outcomes.has(stepId);
  }
}

import { stepper, type PlanContext } from '../context.js';
import type { Step } from '../types.js';
import { quitVm } from './suspend.js';

/**
 * kexec: last checks, flush persistent storage, jump, prove the new kernel is up. In a VMM-only
 * update only what the VMMs need remains: the LUO holder's guard, the old QEMUs quitting. No flush
 * there: nothing has to reach a disk to cross a reboot, and a `sync` would wait for every dirty page
 * of the host (its VMs' disk caches, a save image in the page cache) inside the blackout.
 */
export function kexecPhase(ctx: PlanContext): Step[] {
  const s = stepper('kexec');
  const p = ctx.persistence;
  const b = { blackout: true };
  const kernel = ctx.update === 'kernel';
  const steps: Step[] = [];
  if (kernel)
    steps.push(
      s(
        'verify-kexec-loaded',
        {
          ...b,
          idempotent: true,
          check: { kind: 'boot-changed' },
          description: `verify the new kernel is still staged (and read the build string of ${ctx.profile.kexec.kernel} if this run did not stage it)`,
        },
        { kind: 'verify', verify: { kind: 'kexec-loaded', image: ctx.profile.kexec.kernel } },
      ),
    );
  if (kernel && p.backend === 'pmem') {
    // DAX ext4 metadata reaches pmem only on unmount.
    steps.push(
      s(
        'umount',
        {
          ...b,
          idempotent: true,
          check: { kind: 'not-mounted', target: p.mount },
          description: `unmount ${p.mount} so ext4 metadata is in pmem`,
        },
        { kind: 'umount', argv: ['umount', p.mount], target: p.mount },
      ),
    );
  }
  if (p.backend === 'luo') {
    steps.push(
      s(
        'verify-luo-holder',
        {
          ...b,
          idempotent: true,
          abortOnFailure: true,
          check: { kind: 'boot-changed' },
          description: 'verify the LUO holder is alive and holds every session (if not: abort, the old QEMUs still map the RAM)',
        },
        {
          kind: 'verify',
          verify: {
            kind: 'luo-holder',
            sessions: ctx.vms.map((v) => `liveupdate-${v.spec.name}`),
            vms: ctx.vms.map((v) => ({ vm: v.spec.name, pidfile: v.pidfile })),
          },
        },
      ),
      // only now may the old QEMUs let go of the memfds: the holder alone keeps them until kexec -e
      // (a VM handed over by cpr-transfer: its old QEMU quits once the new one runs it)
      ...ctx.vms.filter((vm) => vm.mode !== 'cpr-transfer').map((vm) => quitVm(vm, 'kexec', 'quit-vms')),
    );
  }
  if (!kernel) return steps;
  steps.push(
    s(
      'sync',
      {
        ...b,
        idempotent: true,
        check: { kind: 'boot-changed' },
        marks: { flushJournal: true },
        description: 'flush the journal and device state to disk',
      },
      { kind: 'exec', argv: ['sync'] },
    ),
  );
  steps.push(
    s(
      'kexec-exec',
      {
        ...b,
        idempotent: false,
        pointOfNoReturn: true,
        check: { kind: 'boot-changed' },
        description: 'jump into the new kernel (point of no return)',
      },
      { kind: 'kexec-exec', argv: ['kexec', '-e'] },
    ),
    s(
      'verify-boot',
      {
        ...b,
        idempotent: true,
        check: null,
        marks: { provesBoot: true },
        description:
          'wait for the host; prove a new boot of the kernel loaded (boot_id changed, its build and command line the ones loaded)',
      },
      {
        kind: 'verify',
        verify: { kind: 'boot-changed', params: ctx.bootParams, cmdline: ctx.kexecCmdline, timeoutMs: ctx.profile.kexec.bootTimeoutMs },
      },
    ),
  );
  const patterns =
    p.backend === 'pkernfs'
      ? ['pkernfs: Restoring from super block']
      : p.backend === 'luo'
        ? ['KHO: found kexec handover data', 'luo: Retrieved live update data']
        : [];
  if (patterns.length) {
    steps.push(
      s(
        'verify-handover',
        { ...b, idempotent: true, check: null, description: "prove the handover from the new kernel's log" },
        { kind: 'verify', verify: { kind: 'dmesg', patterns } },
      ),
    );
  }
  return steps;
}

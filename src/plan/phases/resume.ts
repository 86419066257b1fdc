import { libvirtReady, restoreDomains } from './libvirt.js';
import { isVersionedMachine } from '../../qemu/versions.js';
import { stepper, vmArgv, type PlanContext, type VmContext } from '../context.js';
import { LUO_HOLDER_SOCKET, type Check, type Phase, type Step } from '../types.js';
import { holderVars, mountDax, vfioSetup, vmFolders } from './shared.js';
import { migrationSetup, ramFingerprint } from './suspend.js';
import { handOver } from './handover.js';

/** Persistent storage back in place after the kexec (or, for abort, still in place). */
export function remountStorage(ctx: PlanContext, phase: Phase): Step[] {
  const s = stepper(phase);
  const p = ctx.persistence;
  const b = { blackout: true };
  if (p.backend === 'pkernfs') {
    return [
      s(
        'mkdir-mount',
        { ...b, idempotent: true, check: { kind: 'path-exists', path: p.mount }, description: `create mount point ${p.mount}` },
        { kind: 'exec', argv: ['mkdir', '-p', p.mount] },
      ),
      s(
        'mount-pkernfs',
        {
          ...b,
          idempotent: false,
          check: { kind: 'mounted', target: p.mount, fstype: 'pkernfs' },
          description: `mount pkernfs at ${p.mount}; its files are back, sizes read 0 (never re-truncate)`,
        },
        {
          kind: 'mount',
          argv: ['mount', '-t', 'pkernfs', 'none', p.mount],
          source: 'none',
          target: p.mount,
          fstype: 'pkernfs',
          options: [],
        },
      ),
    ];
  }
  if (p.backend === 'pmem') {
    const dev = ctx.pmem!.device;
    return mountDax(phase, true, dev, p.mount);
  }
  return [];
}

function restoringQemu(vm: VmContext): string {
  const { from, to } = vm;
  const which = `QEMU ${to.version ?? '(version unknown)'} on ${to.machine}`;
  return from.version && to.version && from.version !== to.version
    ? `${which}, moving it from QEMU ${from.version}`
    : `${which}, the QEMU that saved it`;
}

/** One VM restored from its saved device state onto RAM that never moved. */
export function restoreVm(ctx: PlanContext, vm: VmContext, phase: Phase, group: string, onlyIf?: Check, afterKexec = false): Step[] {
  const s = stepper(phase);
  const n = vm.spec.name;
  const sock = vm.spec.qmp;
  const b = { blackout: true, vm: n, group };
  const incomingOnly: Check = { kind: 'vm-status', vm: n, status: ['inmigrate', 'prelaunch'] };
  const pkernfs = ctx.persistence.backend === 'pkernfs';
  return [
    ...(afterKexec ? [ramFingerprint(vm, group, 'check', onlyIf)] : []),
    s(
      `verify-state/${n}`,
      {
        ...b,
        idempotent: true,
        check: { kind: 'vm-status', vm: n, status: ['inmigrate', 'prelaunch', 'paused', 'running'] },
        ...(onlyIf ? { onlyIf } : {}),
        description: `verify ${vm.stateFile} is whole (size and sha256 as saved)`,
      },
      {
        kind: 'verify',
        verify: { kind: 'state-file', vm: n, path: vm.stateFile, savedBy: `suspend/verify-state/${n}` },
      },
    ),
    s(
      `restart/${n}`,
      {
        ...b,
        idempotent: false,
        check: { kind: 'vm-status', vm: n, status: ['inmigrate', 'prelaunch', 'paused', 'running'] },
        ...(onlyIf ? { onlyIf } : {}),
        marks: { restore: 'start' },
        description: `start a new QEMU for ${n}, paused, waiting for its state: ${restoringQemu(vm)}${pkernfs ? '; it may not truncate its RAM file (pkernfs sizes read 0 after a kexec)' : ''}`,
      },
      {
        kind: 'qemu-start',
        timeoutMs: ctx.profile.migration.timeoutMs,
        vm: n,
        argv: vmArgv(ctx, vm, 'restore'),
        pidfile: vm.pidfile,
        incoming: true,
        socket: vm.spec.qmp,
        ...(vm.to.version ? { expectVersion: vm.to.version } : {}),
        ...(isVersionedMachine(vm.to.machine) ? { expectMachine: vm.to.machine } : {}),
        ...(pkernfs ? { noTruncate: [vm.spec.memory] } : {}),
      },
    ),
    ...migrationSetup(ctx, vm, phase, group, true, incomingOnly),
    s(
      `load/${n}`,
      {
        ...b,
        idempotent: false,
        check: { kind: 'vm-status', vm: n, status: ['paused', 'running'] },
        onlyIf: incomingOnly,
        marks: { restore: 'load' },
        description: `load ${n}'s device state from ${vm.stateFile}`,
      },
      {
        kind: 'qmp',
        vm: n,
        socket: sock,
        command: 'migrate-incoming',
        arguments: { uri: vm.uris.in },
        wait: { until: ['completed'], timeoutMs: ctx.profile.migration.timeoutMs },
      },
    ),
    s(
      `cont/${n}`,
      {
        ...b,
        idempotent: true,
        check: { kind: 'vm-status', vm: n, status: ['running'] },
        marks: { blackoutEnd: true },
        description: `resume ${n}: its blackout ends`,
      },
      { kind: 'qmp', vm: n, socket: sock, command: 'cont' },
    ),
    s(
      `verify-running/${n}`,
      { blackout: false, vm: n, group, idempotent: true, check: null, description: `verify ${n} reports running` },
      { kind: 'verify', verify: { kind: 'vm-status', vm: n, status: 'running' } },
    ),
  ];
}

/** resume: storage back, devices back, every VM restored concurrently; LUO sessions finished last. */
export function resumePhase(ctx: PlanContext): Step[] {
  const s = stepper('resume');
  const steps: Step[] = [...remountStorage(ctx, 'resume')];
  steps.push(
    vmFolders(ctx, 'resume', {
      blackout: true,
      description: `create each VM's own folder in ${ctx.profile.runtime.dir} (a tmpfs is new after the kexec)`,
    }),
  );
  // a VMM-only update keeps the holder and its sessions as they are (asked for its fds in suspend)
  const luoKexec = ctx.persistence.backend === 'luo' && ctx.update === 'kernel';
  if (luoKexec) {
    const names = ctx.vms.map((v) => v.spec.name);
    steps.push(
      s(
        'luo-retrieve',
        {
          blackout: true,
          idempotent: false,
          check: { kind: 'journal' },
          description: "start a new LUO holder: retrieve each VM's session and memfd by name and token",
        },
        {
          kind: 'helper-ioctl',
          program: {
            ops: [
              { op: 'luo.open', as: 'luo' },
              ...names.flatMap((n) => [
                // `done-VM`: a retrieved session, finished once the VM runs; the next update replaces it
                { op: 'luo.session.retrieve', luo: 'luo', name: `liveupdate-${n}`, as: `done-${n}` },
                { op: 'luo.retrieve_fd', session: `done-${n}`, token: 1, as: `ram-${n}` },
              ]),
              { op: 'close', name: 'luo' },
            ],
            then: { hold: { socket: LUO_HOLDER_SOCKET } },
          },
          ioctls: ['LIVEUPDATE_IOCTL_RETRIEVE_SESSION', 'LIVEUPDATE_SESSION_RETRIEVE_FD'],
          vars: holderVars(names, 'then.hold.pid'),
        },
      ),
    );
  }
  steps.push(...vfioSetup(ctx, 'resume'), ...libvirtReady(ctx, 'resume'));
  for (const vm of ctx.vms)
    steps.push(
      ...(vm.mode === 'cpr-transfer'
        ? handOver(ctx, vm, 'restore-vms')
        : restoreVm(ctx, vm, 'resume', 'restore-vms', undefined, ctx.update === 'kernel')),
    );
  steps.push(...restoreDomains(ctx, 'resume', 'restore-vms'));
  if (luoKexec) {
    steps.push(
      s(
        'luo-finish',
        {
          blackout: false,
          idempotent: false,
          check: { kind: 'journal' },
          description: 'finish every LUO session now that the VMs run again',
        },
        {
          kind: 'helper-ioctl',
          holder: LUO_HOLDER_SOCKET,
          program: { ops: ctx.vms.map((v) => ({ op: 'luo.finish', session: `done-${v.spec.name}` })) },
          ioctls: ['LIVEUPDATE_SESSION_FINISH'],
        },
      ),
    );
  }
  return steps;
}

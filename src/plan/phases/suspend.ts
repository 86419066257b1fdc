import { stepper, type PlanContext, type VmContext } from '../context.js';
import { isVersionedMachine } from '../../qemu/versions.js';
import { atLeast } from '../../qemu/mode.js';
import { startNewQemu } from './handover.js';
import { holderVars } from './shared.js';
import { saveDomains } from './libvirt.js';
import { LUO_HOLDER_SOCKET, type Phase, type Step } from '../types.js';

/** Migration capabilities (and mode) on a VM's QEMU: before the save, or (`restore`) on the new QEMU before the load. */
export function migrationSetup(
  ctx: PlanContext,
  vm: VmContext,
  phase: Phase,
  group: string,
  restore: boolean,
  onlyIf?: Step['onlyIf'],
): Step[] {
  const s = stepper(phase);
  const n = vm.spec.name;
  const blackout = restore;
  const marks = restore ? { marks: { restore: 'setup' as const } } : {};
  // cpr-transfer passes all of the VM's RAM as file descriptors: nothing to keep out of the stream
  const transfer = vm.mode === 'cpr-transfer';
  const steps: Step[] = [
    s(
      `caps/${n}`,
      {
        blackout,
        vm: n,
        group,
        idempotent: true,
        check: null,
        ...(onlyIf ? { onlyIf } : {}),
        ...marks,
        description: transfer ? `have ${n}'s QEMU report migration events` : `keep ${n}'s RAM out of the stream (x-ignore-shared)`,
      },
      {
        kind: 'qmp',
        vm: n,
        socket: vm.spec.qmp,
        command: 'migrate-set-capabilities',
        // events: completion arrives as a MIGRATION event instead of being polled for
        arguments: {
          capabilities: [...(transfer ? [] : [{ capability: 'x-ignore-shared', state: true }]), { capability: 'events', state: true }],
        },
      },
    ),
  ];
  // the saving QEMU's mode is set whenever it has one (8.2+): a cpr-transfer aborted earlier leaves its mode behind
  const mode = vm.mode === 'x-ignore-shared' ? (!restore && atLeast(vm.from.version, 8, 2) ? 'normal' : undefined) : vm.mode;
  if (mode) {
    steps.push(
      s(
        `mode/${n}`,
        {
          blackout,
          vm: n,
          group,
          idempotent: true,
          check: null,
          ...(onlyIf ? { onlyIf } : {}),
          ...marks,
          description: `set migration mode ${mode} on ${n}`,
        },
        {
          kind: 'qmp',
          vm: n,
          socket: vm.spec.qmp,
          command: 'migrate-set-parameters',
          arguments: { mode },
        },
      ),
    );
  }
  return steps;
}

/** The QEMU about to save the VM is the one whose version and machine type the plan judged (recorded in the journal). */
function verifyRunningQemu(vm: VmContext): Step[] {
  const { from } = vm;
  if (!vm.running || !from.version || !isVersionedMachine(from.machine)) return [];
  return [
    stepper('suspend')(
      `verify-qemu/${vm.spec.name}`,
      {
        blackout: false,
        vm: vm.spec.name,
        group: 'migration-setup',
        idempotent: true,
        check: null,
        description: `verify ${vm.spec.name} runs QEMU ${from.version} on ${from.machine}, as planned`,
      },
      {
        kind: 'verify',
        verify: { kind: 'vm-qemu', vm: vm.spec.name, socket: vm.spec.qmp, version: from.version, machine: from.machine },
      },
    ),
  ];
}

/** suspend: stage the kernel first, then per VM (concurrently) stop -> save device state -> quit. */
export function suspendPhase(ctx: PlanContext): Step[] {
  const s = stepper('suspend');
  const k = ctx.profile.kexec;
  const load = [
    'kexec',
    ...(k.signed ? ['-s'] : []),
    '-l',
    k.kernel,
    ...(k.initrd ? [`--initrd=${k.initrd}`] : []),
    `--command-line=${ctx.kexecCmdline}`,
  ];
  // a VMM-only update stages no kernel
  const steps: Step[] =
    ctx.update === 'vmm'
      ? []
      : [
          s(
            'kexec-load',
            {
              blackout: false,
              idempotent: true,
              check: null,
              description: `stage ${k.kernel} with ${k.signed ? 'kexec -s (signature checked)' : 'kexec -l (unsigned)'} before any VM pauses`,
            },
            {
              kind: 'kexec-load',
              argv: load,
              cmdline: ctx.kexecCmdline,
              image: k.kernel,
            },
          ),
          s(
            'verify-kexec-loaded',
            { blackout: false, idempotent: true, check: null, description: 'verify /sys/kernel/kexec_loaded is 1' },
            { kind: 'verify', verify: { kind: 'kexec-loaded' } },
          ),
        ];
  if (ctx.update === 'vmm' && ctx.persistence.backend === 'luo') {
    // no kexec, no new holder: each new QEMU maps the memfd the living holder has (its pid and fds, asked)
    steps.push(
      s(
        'luo-holder',
        {
          blackout: false,
          idempotent: true,
          check: null,
          description: "ask the LUO holder for its pid and each VM's memfd: the new QEMUs map the same memory",
        },
        {
          kind: 'helper-ioctl',
          holder: LUO_HOLDER_SOCKET,
          program: { ops: [] },
          ioctls: [],
          vars: holderVars(
            ctx.vms.map((v) => v.spec.name),
            'pid',
          ),
        },
      ),
    );
  }
  for (const vm of ctx.vms) {
    const n = vm.spec.name;
    if (vm.mode === 'cpr-transfer') {
      steps.push(...verifyRunningQemu(vm), ...migrationSetup(ctx, vm, 'suspend', 'migration-setup', false));
      continue;
    }
    steps.push(
      // a stale state file must never pass for this run's: clear it before the blackout
      s(
        `clear-state/${n}`,
        {
          blackout: false,
          vm: n,
          group: 'migration-setup',
          idempotent: false,
          check: { kind: 'journal' },
          description: `remove any previous device state of ${n}`,
        },
        {
          kind: 'exec',
          argv: ['rm', '-f', vm.stateFile, `${vm.stateFile}.part`, vm.ramFingerprint],
        },
      ),
      ...verifyRunningQemu(vm),
      ...migrationSetup(ctx, vm, 'suspend', 'migration-setup', false),
    );
  }
  // cpr-transfer: the new QEMU waits beside the old one, the VM keeps running until resume hands it over
  for (const vm of ctx.vms)
    steps.push(...(vm.mode === 'cpr-transfer' ? [startNewQemu(ctx, vm, 'suspend-vms')] : suspendVm(ctx, vm, 'suspend-vms')));
  // libvirt's domains in the same lanes: each saved by libvirt while the VMs save
  steps.push(...saveDomains(ctx, 'suspend-vms'));
  return steps;
}

/** One VM: pause, save device state next to RAM that stays put, quit the old QEMU. */
export function suspendVm(ctx: PlanContext, vm: VmContext, group: string): Step[] {
  const s = stepper('suspend');
  const n = vm.spec.name;
  const sock = vm.spec.qmp;
  return [
    s(
      `stop/${n}`,
      {
        blackout: true,
        vm: n,
        group,
        idempotent: true,
        check: { kind: 'vm-status', vm: n, status: ['paused', 'postmigrate'] },
        marks: { blackoutStart: true },
        description: `pause ${n}: its blackout starts`,
      },
      {
        kind: 'qmp',
        vm: n,
        socket: sock,
        command: 'stop',
      },
    ),
    s(
      `save/${n}`,
      {
        blackout: true,
        vm: n,
        group,
        idempotent: true,
        check: { kind: 'vm-status', vm: n, status: ['postmigrate'] },
        marks: { saveState: true },
        description: `save ${n}'s device state to ${vm.stateFile} (${vm.mode})`,
      },
      {
        kind: 'qmp',
        vm: n,
        socket: sock,
        command: 'migrate',
        arguments: { uri: vm.uris.out },
        wait: { until: ['completed'], timeoutMs: ctx.profile.migration.timeoutMs },
      },
    ),
    s(
      `verify-state/${n}`,
      {
        blackout: true,
        vm: n,
        group,
        idempotent: true,
        check: null,
        description: `verify ${vm.stateFile} is written; record its size and sha256`,
      },
      { kind: 'verify', verify: { kind: 'state-file', vm: n, path: vm.stateFile } },
    ),
    // the kexec is what can lose guest RAM: a VMM-only update keeps it mapped all along
    ...(ctx.update === 'kernel' ? [ramFingerprint(vm, group, 'record')] : []),
    // LUO: the old QEMU keeps the memfd mapped until the holder is checked right before kexec (kexec phase)
    ...(ctx.persistence.backend === 'luo' ? [] : [quitVm(vm, 'suspend', group)]),
  ];
}

/**
 * The guard that guest RAM came back: one 4 KiB page hashed per 2 MiB block, recorded while the VM is
 * paused before the kexec (`record`), checked after it before the new QEMU starts (`check`).
 */
export function ramFingerprint(vm: VmContext, group: string, how: 'record' | 'check', onlyIf?: Step['onlyIf']): Step {
  const n = vm.spec.name;
  const record = how === 'record';
  return stepper(record ? 'suspend' : 'resume')(
    record ? `fingerprint-ram/${n}` : `verify-ram/${n}`,
    {
      blackout: true,
      vm: n,
      group,
      idempotent: true,
      // after the VM's new QEMU is up its RAM moves on: the check is for before it starts
      check: record ? null : { kind: 'vm-status', vm: n, status: ['inmigrate', 'prelaunch', 'paused', 'running'] },
      ...(onlyIf ? { onlyIf } : {}),
      description: record
        ? `fingerprint ${n}'s guest RAM (one page per 2 MiB) into ${vm.ramFingerprint}`
        : `verify ${n}'s guest RAM is the RAM fingerprinted before the kexec (if not: stop, nothing started)`,
    },
    {
      kind: 'helper-ioctl',
      program: {
        ops: [
          {
            op: 'ram.fingerprint',
            path: vm.ramPath,
            size: vm.spec.memory,
            ...(record ? { out: vm.ramFingerprint } : { compare: vm.ramFingerprint }),
          },
        ],
      },
      ioctls: [],
    },
  );
}

export function quitVm(vm: VmContext, phase: Phase, group: string): Step {
  const n = vm.spec.name;
  return stepper(phase)(
    `quit/${n}`,
    { blackout: true, vm: n, group, idempotent: true, check: { kind: 'vm-gone', vm: n }, description: `quit ${n}'s old QEMU` },
    { kind: 'qmp', vm: n, socket: vm.spec.qmp, command: 'quit', pidfile: vm.pidfile },
  );
}

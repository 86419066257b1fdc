import { formatSize } from '../../units.js';
import { isVersionedMachine } from '../../qemu/versions.js';
import { describeRange } from '../carveout.js';
import { pkernfsFiles } from '../../profile/layout.js';
import { stepper, vmArgv, type PlanContext } from '../context.js';
import { holderVars, mountDax, vfioSetup, vmFolders } from './shared.js';
import { LUO_HOLDER_SOCKET, type Step } from '../types.js';

const GRUB_DROPIN = '/etc/default/grub.d/liveupdate.cfg';

/** Nothing in the prepare phase is inside a VM's window. */
const out = { blackout: false };

type Stepper = ReturnType<typeof stepper>;

/**
 * The prepare phase: the carve-out (at the next boot, then checked), the backend's file system and
 * RAM files, the passed-through devices, the state folder, the LUO holder, the VMs started.
 */
export function preparePhase(ctx: PlanContext): Step[] {
  const s = stepper('prepare');
  return [
    ...carveOut(ctx, s),
    ...pkernfs(ctx, s),
    ...pmem(ctx, s),
    ...vfioSetup(ctx, 'prepare'),
    ...stateDir(ctx, s),
    ...luoHolder(ctx, s),
    ...startVms(ctx, s),
  ];
}

/** The carve-out on the kernel command line (by the boot loader, then a reboot), and proven on the running kernel. */
function carveOut(ctx: PlanContext, s: Stepper): Step[] {
  const steps: Step[] = [];
  const p = ctx.persistence;
  if (p.backend !== 'luo' && ctx.carveOut) {
    const r = ctx.carveOut.range;
    if (ctx.missingBootParams.length) {
      // grubby (RHEL, Fedora) edits every boot entry itself; others are refused by the fact rules, with the line to add by hand
      const how =
        ctx.facts.bootloader === 'grubby'
          ? { argv: ['grubby', '--update-kernel=ALL', `--args=${ctx.bootParams.join(' ')}`] }
          : {
              bootloaderFile: GRUB_DROPIN,
              bootloaderText: `# written by liveupdate: ${p.backend} carve-out\nGRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT ${ctx.bootParams.join(' ')}"\n`,
              argv: ['update-grub'],
            };
      steps.push(
        s(
          'carve-out-cmdline',
          {
            ...out,
            idempotent: true,
            check: { kind: 'cmdline-has', params: ctx.bootParams },
            description: `carve out ${describeRange(r)} for ${p.backend} at next boot`,
            stopAfter: 'reboot the host so the carve-out takes effect, then run prepare again',
          },
          {
            kind: 'cmdline',
            params: ctx.bootParams,
            ...how,
            rebootRequired: true,
          },
        ),
      );
    }
    steps.push(
      s(
        'verify-carve-out',
        {
          ...out,
          idempotent: true,
          check: null,
          description: `verify the running kernel has the ${formatSize(r.size)} carve-out at ${formatSize(r.start)}`,
        },
        {
          kind: 'verify',
          verify: { kind: 'carve-out', params: ctx.bootParams, range: r },
        },
      ),
    );
  }
  return steps;
}

/** pkernfs mounted, each RAM file created and sized once in its life. */
function pkernfs(ctx: PlanContext, s: Stepper): Step[] {
  const steps: Step[] = [];
  const p = ctx.persistence;
  if (p.backend === 'pkernfs') {
    steps.push(
      s(
        'verify-pkernfs',
        { ...out, idempotent: true, check: null, description: 'verify the kernel registers the pkernfs filesystem' },
        { kind: 'verify', verify: { kind: 'filesystem', fstype: 'pkernfs' } },
      ),
    );
    steps.push(
      s(
        'mkdir-mount',
        { ...out, idempotent: true, check: { kind: 'path-exists', path: p.mount }, description: `create mount point ${p.mount}` },
        { kind: 'exec', argv: ['mkdir', '-p', p.mount] },
      ),
    );
    steps.push(
      s(
        'mount-pkernfs',
        {
          ...out,
          idempotent: false,
          check: { kind: 'mounted', target: p.mount, fstype: 'pkernfs' },
          description: `mount pkernfs at ${p.mount}`,
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
    );
    for (const f of pkernfsFiles(ctx.profile)) {
      const path = `${p.mount}/${f.path}`;
      // A pkernfs truncate maps the file to fresh blocks (its data gone, the old blocks never freed) and
      // sizes read 0 after a kexec: a file is sized exactly once in its life. Done means "it exists",
      // never "this run sized it" (a later run's prepare would remap the RAM of a running VM).
      steps.push(
        s(
          `file/${f.path}`,
          {
            ...out,
            vm: f.vm,
            idempotent: false,
            check: { kind: 'path-exists', path },
            description: `create ${f.path} (${formatSize(f.size)}, ${f.cost} pkernfs blocks) for ${f.vm}; an existing file is never sized again`,
          },
          {
            kind: 'file',
            path,
            size: f.size,
            argv: [
              ['touch', path],
              ['truncate', '-s', String(f.size), path],
            ],
          },
        ),
      );
    }
  }
  return steps;
}

/** The pmem namespace as fsdax, ext4 on it mounted -o dax, each VM's RAM file allocated. */
function pmem(ctx: PlanContext, s: Stepper): Step[] {
  const steps: Step[] = [];
  const p = ctx.persistence;
  if (p.backend === 'pmem' && ctx.carveOut) {
    const { device: dev, namespace } = ctx.pmem!;
    steps.push(
      s(
        'fsdax-namespace',
        {
          ...out,
          idempotent: false,
          check: { kind: 'pmem-mode', device: dev, mode: 'fsdax' },
          description: `make the pmem namespace at ${formatSize(ctx.carveOut.range.start)} fsdax`,
        },
        {
          kind: 'exec',
          argv: ['ndctl', 'create-namespace', '--force', '--reconfig', namespace, '--mode', 'fsdax', '--map', 'mem'],
        },
      ),
      // mkfs is destructive: done means "already ext4", never "not mounted yet".
      s(
        'mkfs',
        {
          ...out,
          idempotent: false,
          check: { kind: 'has-filesystem', device: dev, fstype: 'ext4' },
          description: 'ext4 with 4 KiB blocks (DAX refuses 1 KiB), no reserved blocks',
        },
        {
          kind: 'exec',
          argv: ['mkfs.ext4', '-q', '-F', '-b', '4096', '-m', '0', dev],
        },
      ),
      ...mountDax('prepare', false, dev, p.mount),
    );
    for (const vm of ctx.vms) {
      const path = `${p.mount}/${vm.spec.ramFile}`;
      steps.push(
        s(
          `file/${vm.spec.ramFile}`,
          {
            ...out,
            vm: vm.spec.name,
            idempotent: true,
            check: { kind: 'path-exists', path },
            description: `allocate ${formatSize(vm.spec.memory)} of guest RAM for ${vm.spec.name} on pmem`,
          },
          {
            kind: 'file',
            path,
            size: vm.spec.memory,
            argv: [['fallocate', '-l', String(vm.spec.memory), path]],
          },
        ),
      );
    }
  }
  return steps;
}

/** The folder the device state is saved in. */
function stateDir(ctx: PlanContext, s: Stepper): Step[] {
  const steps: Step[] = [];
  steps.push(
    s(
      'mkdir-state',
      {
        ...out,
        idempotent: true,
        check: { kind: 'path-exists', path: ctx.profile.migration.stateDir },
        description: `create the device-state directory ${ctx.profile.migration.stateDir}`,
      },
      {
        kind: 'exec',
        argv: ['mkdir', '-p', ctx.profile.migration.stateDir],
      },
    ),
    vmFolders(ctx, 'prepare', out),
  );
  return steps;
}

/** LUO: the holder of each VM's memfd and session (or the living holder's memfds preserved again). */
function luoHolder(ctx: PlanContext, s: Stepper): Step[] {
  const steps: Step[] = [];
  const p = ctx.persistence;
  if (p.backend === 'luo') {
    const names = ctx.vms.map((v) => v.spec.name);
    steps.push(
      s(
        'luo-hold',
        {
          ...out,
          idempotent: false,
          check: { kind: 'journal' },
          onlyIf: { kind: 'helper-absent', socket: LUO_HOLDER_SOCKET },
          description: `start the LUO holder: one memfd and one session per VM, kept open until kexec`,
        },
        {
          kind: 'helper-ioctl',
          program: {
            ops: [
              { op: 'luo.open', as: 'luo' },
              ...ctx.vms.flatMap((v) => [
                { op: 'memfd.create', name: `liveupdate-${v.spec.name}`, size: v.spec.memory, as: `ram-${v.spec.name}` },
                { op: 'luo.session.create', luo: 'luo', name: `liveupdate-${v.spec.name}`, as: `session-${v.spec.name}` },
                { op: 'luo.preserve', session: `session-${v.spec.name}`, fd: `ram-${v.spec.name}`, token: 1 },
              ]),
              // the sessions stay preserved while their fds are open; /dev/liveupdate itself may close
              { op: 'close', name: 'luo' },
            ],
            then: { hold: { socket: LUO_HOLDER_SOCKET } },
          },
          ioctls: ['LIVEUPDATE_IOCTL_CREATE_SESSION', 'LIVEUPDATE_SESSION_PRESERVE_FD'],
          vars: holderVars(names, 'then.hold.pid'),
        },
      ),
      // after an earlier update the VMs already run on memfds a holder keeps: preserve those again
      s(
        'luo-represerve',
        {
          ...out,
          idempotent: false,
          check: { kind: 'journal' },
          onlyIf: { kind: 'helper-has', socket: LUO_HOLDER_SOCKET, handle: `done-${names[0]}` },
          description: 'the LUO holder of the last update is alive: preserve the memfds it holds in new sessions',
        },
        {
          kind: 'helper-ioctl',
          holder: LUO_HOLDER_SOCKET,
          program: {
            ops: [
              { op: 'luo.open', as: 'luo' },
              ...names.flatMap((n) => [
                { op: 'close', name: `done-${n}` },
                { op: 'luo.session.create', luo: 'luo', name: `liveupdate-${n}`, as: `session-${n}` },
                { op: 'luo.preserve', session: `session-${n}`, fd: `ram-${n}`, token: 1 },
              ]),
              { op: 'close', name: 'luo' },
            ],
          },
          ioctls: ['LIVEUPDATE_IOCTL_CREATE_SESSION', 'LIVEUPDATE_SESSION_PRESERVE_FD'],
          vars: holderVars(names, 'pid'),
        },
      ),
    );
  }
  return steps;
}

/** Each VM started on its RAM. */
function startVms(ctx: PlanContext, s: Stepper): Step[] {
  const steps: Step[] = [];
  for (const vm of ctx.vms) {
    steps.push(
      s(
        `start/${vm.spec.name}`,
        {
          ...out,
          vm: vm.spec.name,
          group: 'start-vms',
          idempotent: false,
          check: { kind: 'vm-status', vm: vm.spec.name, status: ['running', 'paused'] },
          description: `start ${vm.spec.name} with its RAM in ${vm.ramPath}, QEMU ${vm.startVersion ?? '(version unknown)'} on ${vm.startMachine}${vm.startMachine !== vm.spec.qemu.machine ? ` (${vm.spec.qemu.machine} resolved once, kept across updates)` : ''}`,
        },
        {
          kind: 'qemu-start',
          timeoutMs: ctx.profile.migration.timeoutMs,
          vm: vm.spec.name,
          argv: vmArgv(ctx, vm, 'start'),
          pidfile: vm.pidfile,
          incoming: false,
          socket: vm.spec.qmp,
          // checked once it runs, so the journal records the version and the versioned type it started with
          ...(vm.startVersion ? { expectVersion: vm.startVersion } : {}),
          ...(isVersionedMachine(vm.startMachine) ? { expectMachine: vm.startMachine } : {}),
        },
      ),
    );
  }
  return steps;
}

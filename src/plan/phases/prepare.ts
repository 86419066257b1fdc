import { formatSize } from '../../units.js';
import { isVersionedMachine } from '../../qemu/versions.js';
import { describeRange } from '../carveout.js';
import { pkernfsFiles } from '../../profile/layout.js';
import { stepper, vmArgv, type PlanContext } from '../context.js';
import { LUO_HOLDER_SOCKET, type Step } from '../types.js';

const GRUB_DROPIN = '/etc/default/grub.d/liveupdate.cfg';

/** prepare: carve-out on the cmdline, persistent storage mounted, guest RAM files, helpers, VMs started on them. */
export function preparePhase(ctx: PlanContext): Step[] {
  const s = stepper('prepare');
  const steps: Step[] = [];
  const p = ctx.persistence;
  const out = { blackout: false };

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
        s('carve-out-cmdline', { ...out, idempotent: true, check: { kind: 'cmdline-has', params: ctx.bootParams }, description: `carve out ${describeRange(r)} for ${p.backend} at next boot`, stopAfter: 'reboot the host so the carve-out takes effect, then run prepare again' }, {
          kind: 'cmdline',
          params: ctx.bootParams,
          ...how,
          rebootRequired: true,
        }),
      );
    }
    steps.push(
      s('verify-carve-out', { ...out, idempotent: true, check: null, description: `verify the running kernel has the ${formatSize(r.size)} carve-out at ${formatSize(r.start)}` }, {
        kind: 'verify',
        verify: { kind: 'carve-out', params: ctx.bootParams, range: r },
      }),
    );
  }

  if (p.backend === 'pkernfs') {
    steps.push(s('verify-pkernfs', { ...out, idempotent: true, check: null, description: 'verify the kernel registers the pkernfs filesystem' }, { kind: 'verify', verify: { kind: 'filesystem', fstype: 'pkernfs' } }));
    steps.push(s('mkdir-mount', { ...out, idempotent: true, check: { kind: 'path-exists', path: p.mount }, description: `create mount point ${p.mount}` }, { kind: 'exec', argv: ['mkdir', '-p', p.mount] }));
    steps.push(
      s('mount-pkernfs', { ...out, idempotent: false, check: { kind: 'mounted', target: p.mount, fstype: 'pkernfs' }, description: `mount pkernfs at ${p.mount}` }, {
        kind: 'mount',
        argv: ['mount', '-t', 'pkernfs', 'none', p.mount],
        source: 'none',
        target: p.mount,
        fstype: 'pkernfs',
        options: [],
      }),
    );
    for (const f of pkernfsFiles(ctx.profile)) {
      const path = `${p.mount}/${f.path}`;
      // A pkernfs truncate maps the file to fresh blocks (its data gone, the old blocks never freed) and
      // sizes read 0 after a kexec: a file is sized exactly once in its life. Done means "it exists",
      // never "this run sized it" (a later run's prepare would remap the RAM of a running VM).
      steps.push(
        s(`file/${f.path}`, { ...out, vm: f.vm, idempotent: false, check: { kind: 'path-exists', path }, description: `create ${f.path} (${formatSize(f.size)}, ${f.cost} pkernfs blocks) for ${f.vm}; an existing file is never sized again` }, {
          kind: 'file',
          path,
          size: f.size,
          argv: [['touch', path], ['truncate', '-s', String(f.size), path]],
        }),
      );
    }
  }

  if (p.backend === 'pmem' && ctx.carveOut) {
    const { device: dev, namespace } = ctx.pmem!;
    steps.push(
      s('fsdax-namespace', { ...out, idempotent: false, check: { kind: 'pmem-mode', device: dev, mode: 'fsdax' }, description: `make the pmem namespace at ${formatSize(ctx.carveOut.range.start)} fsdax` }, {
        kind: 'exec',
        argv: ['ndctl', 'create-namespace', '--force', '--reconfig', namespace, '--mode', 'fsdax', '--map', 'mem'],
      }),
      // mkfs is destructive: done means "already ext4", never "not mounted yet".
      s('mkfs', { ...out, idempotent: false, check: { kind: 'has-filesystem', device: dev, fstype: 'ext4' }, description: 'ext4 with 4 KiB blocks (DAX refuses 1 KiB), no reserved blocks' }, {
        kind: 'exec',
        argv: ['mkfs.ext4', '-q', '-F', '-b', '4096', '-m', '0', dev],
      }),
      s('mkdir-mount', { ...out, idempotent: true, check: { kind: 'path-exists', path: p.mount }, description: `create mount point ${p.mount}` }, { kind: 'exec', argv: ['mkdir', '-p', p.mount] }),
      s('mount-dax', { ...out, idempotent: false, check: { kind: 'mounted', target: p.mount, fstype: 'ext4' }, description: `mount ${dev} at ${p.mount} with -o dax` }, {
        kind: 'mount',
        argv: ['mount', '-o', 'dax', dev, p.mount],
        source: dev,
        target: p.mount,
        fstype: 'ext4',
        options: ['dax'],
      }),
    );
    for (const vm of ctx.vms) {
      const path = `${p.mount}/${vm.spec.ramFile}`;
      steps.push(
        s(`file/${vm.spec.ramFile}`, { ...out, vm: vm.spec.name, idempotent: true, check: { kind: 'path-exists', path }, description: `allocate ${formatSize(vm.spec.memory)} of guest RAM for ${vm.spec.name} on pmem` }, {
          kind: 'file',
          path,
          size: vm.spec.memory,
          argv: [['fallocate', '-l', String(vm.spec.memory), path]],
        }),
      );
    }
  }

  steps.push(...vfioSetup(ctx, 'prepare'));
  steps.push(
    s('mkdir-state', { ...out, idempotent: true, check: { kind: 'path-exists', path: ctx.profile.migration.stateDir }, description: `create the device-state directory ${ctx.profile.migration.stateDir}` }, {
      kind: 'exec',
      argv: ['mkdir', '-p', ctx.profile.migration.stateDir, '/run/liveupdate'],
    }),
  );
  if (p.backend === 'luo') {
    const names = ctx.vms.map((v) => v.spec.name);
    steps.push(
      s('luo-hold', { ...out, idempotent: false, check: { kind: 'journal' }, onlyIf: { kind: 'helper-absent', socket: LUO_HOLDER_SOCKET }, description: `start the LUO holder: one memfd and one session per VM, kept open until kexec` }, {
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
      }),
      // after an earlier update the VMs already run on memfds a holder keeps: preserve those again
      s('luo-represerve', { ...out, idempotent: false, check: { kind: 'journal' }, onlyIf: { kind: 'helper-has', socket: LUO_HOLDER_SOCKET, handle: `done-${names[0]}` }, description: 'the LUO holder of the last update is alive: preserve the memfds it holds in new sessions' }, {
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
      }),
    );
  }
  for (const vm of ctx.vms) {
    steps.push(
      s(`start/${vm.spec.name}`, { ...out, vm: vm.spec.name, group: 'start-vms', idempotent: false, check: { kind: 'vm-status', vm: vm.spec.name, status: ['running', 'paused'] }, description: `start ${vm.spec.name} with its RAM in ${vm.ramPath}, QEMU ${vm.startVersion ?? '(version unknown)'} on ${vm.startMachine}${vm.startMachine !== vm.spec.qemu.machine ? ` (${vm.spec.qemu.machine} resolved once, kept across updates)` : ''}` }, {
        kind: 'qemu-start',
        vm: vm.spec.name,
        argv: vmArgv(ctx, vm, 'start'),
        pidfile: vm.pidfile,
        incoming: false,
        socket: vm.spec.qmp,
        // checked once it runs, so the journal records the version and the versioned type it started with
        ...(vm.startVersion ? { expectVersion: vm.startVersion } : {}),
        ...(isVersionedMachine(vm.startMachine) ? { expectMachine: vm.startMachine } : {}),
      }),
    );
  }
  return steps;
}

/**
 * The LUO holder's run-time values: {holder.pid} (where its answer has the pid: a new holder's
 * `then.hold.pid`, a living one's status `pid`) and each VM's {memfd.VM} (its `ram-VM` handle).
 */
export function holderVars(names: string[], pidAt: 'then.hold.pid' | 'pid'): Record<string, string> {
  return { 'holder.pid': pidAt, ...Object.fromEntries(names.map((n) => [`memfd.${n}`, `handles.ram-${n}.fd`])) };
}

/** Devices bound to vfio-pci, and (pkernfs) the IOMMU page tables placed in iommu/dom-N. */
export function vfioSetup(ctx: PlanContext, phase: 'prepare' | 'resume'): ReturnType<typeof preparePhase> {
  const s = stepper(phase);
  const steps: Step[] = [];
  const p = ctx.persistence;
  for (const vm of ctx.vms) {
    // handed over by cpr-transfer, a device never leaves vfio-pci: the old QEMU holds it until the new one has it
    if (vm.mode === 'cpr-transfer') continue;
    for (const d of vm.spec.vfio) {
      const dev = `/sys/bus/pci/devices/${d.host}`;
      const check = { kind: 'pci-driver' as const, address: d.host, driver: 'vfio-pci' };
      steps.push(
        s(`vfio-override/${d.host}`, { blackout: phase === 'resume', vm: vm.spec.name, idempotent: true, check, description: `let vfio-pci claim ${d.host}` }, { kind: 'sysfs-write', path: `${dev}/driver_override`, value: 'vfio-pci' }),
        s(`vfio-unbind/${d.host}`, { blackout: phase === 'resume', vm: vm.spec.name, idempotent: true, check, description: `unbind ${d.host} from its host driver` }, { kind: 'sysfs-write', path: `${dev}/driver/unbind`, value: d.host }),
        s(`vfio-probe/${d.host}`, { blackout: phase === 'resume', vm: vm.spec.name, idempotent: true, check, description: `bind ${d.host} to vfio-pci` }, { kind: 'sysfs-write', path: '/sys/bus/pci/drivers_probe', value: d.host }),
      );
      if (p.backend === 'pkernfs') {
        const liveUpdate = phase === 'resume';
        steps.push(
          s(`vfio-pgtables/${d.host}`, { blackout: liveUpdate, vm: vm.spec.name, idempotent: false, check: { kind: 'journal' }, description: `${liveUpdate ? 're-map' : 'map'} ${vm.spec.name}'s RAM for ${d.host} with page tables in iommu/${d.iommuDomain}` }, {
            kind: 'helper-ioctl',
            program: {
              ops: [
                { op: 'vfio.container.open', as: 'container' },
                { op: 'vfio.group.open', device: d.host, as: 'group' },
                { op: 'vfio.group.set_container', group: 'group', container: 'container' },
                { op: 'vfio.set_iommu', container: 'container', type: 'type1v2' },
                { op: 'open', path: `${p.mount}/iommu/${d.iommuDomain}`, as: 'pgtables' },
                { op: 'vfio.set_persistent_pgtables', container: 'container', file: 'pgtables' },
                { op: 'buffer.file', path: `${p.mount}/${vm.spec.ramFile}`, size: vm.spec.memory, as: 'ram' },
                { op: 'vfio.dma.map', container: 'container', buffer: 'ram', iova: 0, flags: liveUpdate ? ['read', 'write', 'live_update'] : ['read', 'write'] },
              ],
              then: { hold: { socket: `/run/liveupdate/vfio-${d.host}.sock` } },
            },
            ioctls: [
              'VFIO_GET_API_VERSION',
              'VFIO_GROUP_SET_CONTAINER',
              'VFIO_SET_IOMMU',
              'VFIO_CONTAINER_SET_PERSISTENT_PGTABLES',
              liveUpdate ? 'VFIO_IOMMU_MAP_DMA(VFIO_DMA_MAP_FLAG_LIVE_UPDATE)' : 'VFIO_IOMMU_MAP_DMA',
            ],
          }),
        );
      }
    }
  }
  return steps;
}

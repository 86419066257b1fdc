/** Builders more than one phase takes its steps from. */
import { vmsDir } from '../../profile/load.js';
import { stepper, type PlanContext } from '../context.js';
import { RUN_DIR, type Phase, type Step } from '../types.js';

/**
 * The LUO holder's run-time values: {holder.pid} (where its answer has the pid: a new holder's
 * `then.hold.pid`, a living one's status `pid`) and each VM's {memfd.VM} (its `ram-VM` handle).
 */
export function holderVars(names: string[], pidAt: 'then.hold.pid' | 'pid'): Record<string, string> {
  return { 'holder.pid': pidAt, ...Object.fromEntries(names.map((n) => [`memfd.${n}`, `handles.ram-${n}.fd`])) };
}

/** Devices bound to vfio-pci, and (pkernfs) the IOMMU page tables placed in iommu/dom-N. */
export function vfioSetup(ctx: PlanContext, phase: 'prepare' | 'resume'): Step[] {
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
        s(
          `vfio-override/${d.host}`,
          { blackout: phase === 'resume', vm: vm.spec.name, idempotent: true, check, description: `let vfio-pci claim ${d.host}` },
          { kind: 'sysfs-write', path: `${dev}/driver_override`, value: 'vfio-pci' },
        ),
        s(
          `vfio-unbind/${d.host}`,
          { blackout: phase === 'resume', vm: vm.spec.name, idempotent: true, check, description: `unbind ${d.host} from its host driver` },
          { kind: 'sysfs-write', path: `${dev}/driver/unbind`, value: d.host },
        ),
        s(
          `vfio-probe/${d.host}`,
          { blackout: phase === 'resume', vm: vm.spec.name, idempotent: true, check, description: `bind ${d.host} to vfio-pci` },
          { kind: 'sysfs-write', path: '/sys/bus/pci/drivers_probe', value: d.host },
        ),
      );
      if (p.backend === 'pkernfs') {
        const liveUpdate = phase === 'resume';
        steps.push(
          s(
            `vfio-pgtables/${d.host}`,
            {
              blackout: liveUpdate,
              vm: vm.spec.name,
              idempotent: false,
              check: { kind: 'journal' },
              description: `${liveUpdate ? 're-map' : 'map'} ${vm.spec.name}'s RAM for ${d.host} with page tables in iommu/${d.iommuDomain}`,
            },
            {
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
                  {
                    op: 'vfio.dma.map',
                    container: 'container',
                    buffer: 'ram',
                    iova: 0,
                    flags: liveUpdate ? ['read', 'write', 'live_update'] : ['read', 'write'],
                  },
                ],
                then: { hold: { socket: `${RUN_DIR}/vfio-${d.host}.sock` } },
              },
              ioctls: [
                'VFIO_GET_API_VERSION',
                'VFIO_GROUP_SET_CONTAINER',
                'VFIO_SET_IOMMU',
                'VFIO_CONTAINER_SET_PERSISTENT_PGTABLES',
                liveUpdate ? 'VFIO_IOMMU_MAP_DMA(VFIO_DMA_MAP_FLAG_LIVE_UPDATE)' : 'VFIO_IOMMU_MAP_DMA',
              ],
            },
          ),
        );
      }
    }
  }
  return steps;
}

/**
 * The folders every path QEMU creates for a VM is in (runtime.dir, runtime.dir/vms, one per VM):
 * made where missing, and each refused unless it is root's alone, before a QEMU binds a socket there.
 */
export function vmFolders(ctx: PlanContext, phase: Phase, meta: { blackout: boolean; description?: string }): Step {
  const root = ctx.profile.runtime.dir;
  const paths = [...new Set([RUN_DIR, root, vmsDir(root), ...ctx.vms.map((v) => v.spec.runDir)])];
  return stepper(phase)(
    'vm-folders',
    {
      blackout: meta.blackout,
      idempotent: true,
      // no check: folders that exist are checked again each time (whose they are, who may write)
      check: null,
      description: meta.description ?? `create each VM's own folder in ${root} (its QMP socket and pidfile are there)`,
    },
    { kind: 'private-dirs', paths },
  );
}

/** The pmem carve-out's file system mounted with -o dax (prepare, and resume on the new kernel). */
export function mountDax(phase: Phase, blackout: boolean, dev: string, mount: string): Step[] {
  const s = stepper(phase);
  return [
    s(
      'mkdir-mount',
      { blackout, idempotent: true, check: { kind: 'path-exists', path: mount }, description: `create mount point ${mount}` },
      { kind: 'exec', argv: ['mkdir', '-p', mount] },
    ),
    s(
      'mount-dax',
      {
        blackout,
        idempotent: false,
        check: { kind: 'mounted', target: mount, fstype: 'ext4' },
        description: `mount ${dev} at ${mount} with -o dax`,
      },
      {
        kind: 'mount',
        argv: ['mount', '-o', 'dax', dev, mount],
        source: dev,
        target: mount,
        fstype: 'ext4',
        options: ['dax'],
      },
    ),
  ];
}

import type { VmSpec } from '../profile/types.js';

export interface QemuArgvInput {
  vm: VmSpec;
  /** where guest RAM lives: a file on pkernfs/pmem, or /proc/<holder>/fd/<n> for LUO */
  ramPath: string;
  pidfile: string;
  /** restore: same device model plus -S -incoming defer */
  incoming: boolean;
  /** VFIO devices as QEMU options (differs by IOMMU API) */
  vfioArgs: string[];
}

/** The VMM command line. Identical device model on both sides of the update is what makes restore work. */
export function qemuArgv(i: QemuArgvInput): string[] {
  const { vm } = i;
  const argv = [
    vm.qemu.binary,
    '-name', `${vm.name},debug-threads=on`,
    '-machine', `${vm.qemu.machine},memory-backend=ram0`,
    '-accel', vm.qemu.accel,
    '-smp', String(vm.qemu.cpus),
    '-m', `${vm.memory / 2 ** 20}M`,
    '-object', `memory-backend-file,id=ram0,size=${vm.memory},mem-path=${i.ramPath},share=on`,
    '-qmp', `unix:${vm.qmp},server=on,wait=off`,
    '-daemonize', '-pidfile', i.pidfile,
    ...vm.qemu.args,
    ...i.vfioArgs,
  ];
  if (i.incoming) argv.push('-S', '-incoming', 'defer');
  return argv;
}

import type { IommuApi, VmSpec } from '../profile/types.js';
import { cprChannel } from './cpr.js';

export interface QemuArgvInput {
  vm: VmSpec;
  /** the QEMU to run and the machine type, concrete: the planner decides both */
  binary: string;
  machine: string;
  /** where guest RAM lives: a file on pkernfs/pmem, or /proc/<holder>/fd/<n> for LUO */
  ramPath: string;
  pidfile: string;
  /** the QMP socket, when not the VM's own (a cpr-transfer's new QEMU, while the old one still has it) */
  qmp?: string;
  /**
   * restore: same device model plus -S and where its state comes from: `defer` (a migrate-incoming
   * later), or cpr-transfer's two unix sockets (the cpr channel, read before QEMU builds anything, and
   * the main migration channel)
   */
  incoming?: 'defer' | { main: string; cpr: string };
  /**
   * `-machine aux-ram-share=on` (QEMU 10.0+): QEMU's own RAM (ROMs, video memory) in shared memory
   * too, which cpr-transfer hands to the next QEMU with guest RAM. It does not change what a
   * migration to a file saves: x-ignore-shared skips only RAM backed by a named file.
   */
  auxRamShare?: boolean;
  /** VFIO devices as QEMU options (differs by IOMMU API) */
  vfioArgs: string[];
}

/**
 * A VM's passed-through devices as QEMU options. Through iommufd: one iommufd object, QEMU opens
 * /dev/iommu and each device's VFIO cdev itself (a cpr-transfer hands the open files to the next
 * QEMU by these ids, so they never change). Else the legacy VFIO container (the device's group).
 */
export function vfioDeviceArgs(devices: ReadonlyArray<{ host: string }>, api: IommuApi): string[] {
  if (!devices.length) return [];
  const device = (host: string, extra: string): string[] => [
    '-device',
    `vfio-pci,host=${host},id=vfio-${host.replace(/[:.]/g, '-')}${extra}`,
  ];
  if (api === 'vfio-container') return devices.flatMap((d) => device(d.host, ''));
  return ['-object', 'iommufd,id=iommufd0', ...devices.flatMap((d) => device(d.host, ',iommufd=iommufd0'))];
}

/** A value inside a QEMU option string (`-object ...,mem-path=V`, `-qmp unix:V,...`): ',' doubled, as QEMU reads it. Every such value goes through here. */
export function qemuOptValue(s: string): string {
  return s.replace(/,/g, ',,');
}

/** The VMM command line. Identical device model on both sides of the update is what makes restore work. */
export function qemuArgv(i: QemuArgvInput): string[] {
  const { vm } = i;
  const argv = [
    i.binary,
    '-name',
    `${vm.name},debug-threads=on`,
    '-machine',
    `${i.machine},memory-backend=ram0${i.auxRamShare ? ',aux-ram-share=on' : ''}`,
    '-accel',
    vm.qemu.accel,
    '-smp',
    String(vm.qemu.cpus),
    '-m',
    `${vm.memory / 2 ** 20}M`,
    '-object',
    `memory-backend-file,id=ram0,size=${vm.memory},mem-path=${qemuOptValue(i.ramPath)},share=on`,
    '-qmp',
    `unix:${qemuOptValue(i.qmp ?? vm.qmp)},server=on,wait=off`,
    '-daemonize',
    '-pidfile',
    i.pidfile,
    ...vm.qemu.args,
    ...i.vfioArgs,
  ];
  if (i.incoming === 'defer') argv.push('-S', '-incoming', 'defer');
  else if (i.incoming) {
    argv.push(
      '-S',
      '-incoming',
      JSON.stringify(cprChannel('main', i.incoming.main)),
      '-incoming',
      JSON.stringify(cprChannel('cpr', i.incoming.cpr)),
    );
  }
  return argv;
}

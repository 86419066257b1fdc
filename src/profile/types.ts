export type IommuApi = 'iommufd' | 'vfio-container';
export type MigrationMode = 'auto' | 'x-ignore-shared' | 'cpr-reboot' | 'cpr-transfer';

/** A carve-out given on the kernel cmdline: pkernfs and pmem both take a physical range. */
export interface CarveOutSpec {
  size: number;
  /** physical start; 'auto' lets the planner pick one from /proc/iomem */
  offset: number | 'auto';
}

export interface PkernfsPersistence extends CarveOutSpec {
  backend: 'pkernfs';
  mount: string;
}

export interface PmemPersistence extends CarveOutSpec {
  backend: 'pmem';
  mount: string;
  /** /dev/pmemN, or auto: the namespace whose range is the carve-out */
  device: string;
}

export interface LuoPersistence {
  backend: 'luo';
  /** kho_scratch= size; undefined lets the kernel size it */
  khoScratch: number | undefined;
}

export type Persistence = PkernfsPersistence | PmemPersistence | LuoPersistence;

export interface VfioSpec {
  /** full PCI address, domain included: 0000:00:04.0 */
  host: string;
  /** pkernfs iommu/dom-N file size */
  pgtables: number;
  iommuDomain: string;
}

export interface VmSpec {
  name: string;
  memory: number;
  ramFile: string;
  /** the VM's own folder, <runtime.dir>/vms/<name>: liveupdate creates it (root, 0700) and every file QEMU creates for the VM is in it */
  runDir: string;
  /** its QMP socket, <runDir>/qmp.sock */
  qmp: string;
  /** its QEMU's pidfile, <runDir>/qemu.pid */
  pidfile: string;
  qemu: {
    /** the QEMU that runs the VM (and starts it the first time) */
    binary: string;
    /** the QEMU that restores it after the update: `binary` unless the profile names a new one */
    restoreBinary: string;
    /** as the profile gives it: an alias (q35) is resolved to a versioned type when the VM first starts */
    machine: string;
    accel: string;
    cpus: number;
    args: string[];
  };
  vfio: VfioSpec[];
}

/** How a libvirt domain's RAM crosses the update: in place (its file on the carve-out), or copied into a save image there. */
export type DomainRam = 'in-place' | 'copy';

/** Domains a libvirt daemon runs: liveupdate saves and restores them through libvirt (virsh), never starts them itself. */
export interface LibvirtSpec {
  /** the connection URI virsh is given (-c) */
  uri: string;
  ram: DomainRam;
  domains: string[];
}

/** A libvirt domain's save image: in the state folder (on the carve-out), beside the VMs' device state. */
export const domainSaveImage = (stateDir: string, domain: string): string => `${stateDir}/${domain}.libvirt-save`;

export interface Profile {
  version: 1;
  /** the file it was read from, for messages */
  file: string;
  host: { name: string };
  persistence: Persistence;
  iommu: { api: IommuApi; dmaStopsDuringUpdate: boolean };
  kexec: {
    kernel: string;
    initrd: string | undefined;
    signed: boolean;
    cmdline: { policy: 'reuse' | 'replace'; value: string | undefined; append: string[]; remove: string[] };
    bootTimeoutMs: number;
  };
  migration: {
    mode: MigrationMode;
    stateDir: string;
    timeoutMs: number;
    /** QEMU upgrades (`A.B -> C.D`) the operator accepts although no test has shown them to work */
    acceptUntestedQemu: string[];
  };
  journal: { dir: string };
  /** the parent of the VMs' own folders (default /run/liveupdate) */
  runtime: { dir: string };
  vms: VmSpec[];
  /** absent: no libvirt domains (every VM is one liveupdate starts) */
  libvirt: LibvirtSpec | undefined;
}

export type { Locate } from '../input/position.js';

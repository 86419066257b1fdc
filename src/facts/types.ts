/** What a read-only probe learned about a host. Serialisable: `facts --json` saves it, `--facts FILE` replays it. */
export const FACTS_FORMAT_VERSION = 1;

export interface IomemRange {
  start: number;
  end: number; // inclusive, as /proc/iomem prints it
  name: string;
  children: IomemRange[];
}

export interface Mount {
  source: string;
  target: string;
  fstype: string;
  options: string[];
}

export interface NumaNode {
  id: number;
  cpus: string;
  memTotal: number; // bytes
}

export interface PmemDevice {
  name: string; // pmem0
  size: number; // bytes
  /** namespace mode from sysfs when the nd bus shows one: raw, fsdax, devdax, sector */
  mode: string | undefined;
  namespace: string | undefined;
  /** physical range from the region's resource, when readable */
  start: number | undefined;
}

export interface PciDevice {
  address: string; // 0000:00:04.0
  vendor: string; // 8086
  device: string; // 10d3
  driver: string | undefined;
  iommuGroup: number | undefined;
}

export interface QemuFacts {
  binary: string;
  /** undefined when the binary is missing or did not answer */
  version: string | undefined;
  /** its machine types (`-machine help`); absent from facts saved before they were probed */
  machines?: string[];
  /** alias -> the versioned type it names in this binary (`q35` -> `pc-q35-7.2`) */
  aliases?: Record<string, string>;
}

/** A VM of the profile found running (its liveupdate pidfile names a live QEMU). */
export interface RunningVm {
  name: string;
  pid: number;
  /** the running QEMU's executable; ' (deleted)' at the end when a package upgrade replaced it */
  exe: string;
  /** the running QEMU's version (its own executable asked, even when deleted) */
  version: string | undefined;
  /** its machine type, an alias resolved by the running QEMU itself */
  machine: string | undefined;
  /** started with -machine aux-ram-share=on (its own memory shared: cpr-transfer can hand it over); absent: not known */
  auxRamShare?: boolean;
}

/** What is at a path: nothing, an empty folder, a folder with files in it, or something that is not a folder. */
export type PathHolds = 'missing' | 'empty' | 'files' | 'other';

export interface HostFacts {
  formatVersion: typeof FACTS_FORMAT_VERSION;
  collectedAt: string;
  hostname: string;
  kernelRelease: string;
  /** the running kernel's build (uname -v); absent from facts saved before it was probed */
  kernelVersion?: string;
  bootId: string;
  cmdline: string;
  iomem: IomemRange[];
  memTotal: number;
  numa: NumaNode[];
  mounts: Mount[];
  filesystems: string[];
  kexecLoaded: boolean;
  pmem: PmemDevice[];
  pci: PciDevice[];
  devices: { vfio: string[]; iommu: boolean; liveupdate: boolean; kvm: boolean };
  qemu: QemuFacts[];
  /** the profile's VMs that run now; absent from facts saved before they were probed */
  vms?: RunningVm[];
  /** paths the profile names (kexec kernel, initrd): size in bytes, or null when missing */
  files: Record<string, number | null>;
  /**
   * The folders the profile keeps state in (journal, device state), as this host resolves them
   * (`realpath -m`: symlinks followed, missing components allowed): a rule judges where a path is,
   * not how it is spelt. Absent from facts saved before they were probed.
   */
  paths?: Record<string, string>;
  /** what each of those folders holds now; absent from facts saved before it was probed */
  pathHolds?: Record<string, PathHolds>;
  /**
   * What keeps the kernel command line for the next boot: Debian's GRUB (update-grub), grubby
   * (RHEL, Fedora), systemd-boot with kernel-install (/etc/kernel/cmdline), or none of these.
   * Absent from facts saved before it was probed: taken as grub.
   */
  bootloader?: Bootloader;
  /**
   * The kernel image the profile kexecs and its build string (`RELEASE (BUILDER@HOST) #VERSION`, as
   * the image's setup header has it; null when it is missing or not a bzImage): with kernelRelease,
   * kernelVersion and cmdline it says whether the host runs the update's kernel already. Absent from
   * facts saved before it was probed.
   */
  kexecImage?: { path: string; build: string | null };
  /** the profile's libvirt domains and the daemon; absent when the profile names none */
  libvirt?: LibvirtFacts;
}

/** A libvirt domain the profile names, as libvirt reports it now. */
export interface DomainFacts {
  name: string;
  /** virsh domstate: running, paused, shut off ...; missing: libvirt has no such domain */
  state: string;
  /** its id while it runs (the per-domain folder under memory_backing_dir is ID-NAME) */
  id: number | undefined;
  /** the emulator's version (`--version`, first line) */
  emulatorVersion: string | undefined;
  /** the files in its folder under memory_backing_dir: its RAM files while it runs with file-backed RAM */
  ramFiles: string[];
  /** libvirt starts it when its daemon starts (virsh autostart) */
  autostart: boolean;
  /** `virsh dumpxml --migratable`, as libvirt wrote it (src/facts/domain-xml.ts reads it) */
  xml: string;
}

export interface LibvirtFacts {
  uri: string;
  /** libvirt's version (the client's; the daemon's when it answered), undefined when virsh is missing */
  version: string | undefined;
  daemonVersion: string | undefined;
  /** qemu.conf's memory_backing_dir (libvirt's default when not set) */
  memoryBackingDir: string;
  /** the qemu hooks installed (/etc/libvirt/hooks/qemu, qemu.d/*) */
  hooks: string[];
  /** every domain running now (virsh list --name), the profile's or not */
  running: string[];
  domains: DomainFacts[];
}

export type Bootloader = 'grub' | 'grubby' | 'systemd-boot' | 'unknown';

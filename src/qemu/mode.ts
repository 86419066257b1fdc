import type { IommuApi, MigrationMode } from '../profile/types.js';

export type KexecMigrationMode = 'x-ignore-shared' | 'cpr-reboot';

export function parseVersion(v: string | undefined): [number, number, number] | undefined {
  const m = /^([0-9]+)\.([0-9]+)(?:\.([0-9]+))?/.exec(v ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

export function atLeast(v: string | undefined, major: number, minor: number): boolean {
  const p = parseVersion(v);
  return !!p && (p[0] > major || (p[0] === major && p[1] >= minor));
}

/** The path a VM takes: across a kexec the two kexec modes; in a VMM-only update also cpr-transfer. */
export type MigrationPath = KexecMigrationMode | 'cpr-transfer';

/** What decides whether a VMM-only update can hand a VM to its new QEMU with cpr-transfer. */
export interface CprTransferFacts {
  from: string | undefined;
  to: string | undefined;
  backend: 'pkernfs' | 'pmem' | 'luo';
  /** the VM runs now (undefined: the facts did not look) */
  running: boolean | undefined;
  /** its running QEMU was started with -machine aux-ram-share=on (undefined: not known) */
  auxRamShare: boolean | undefined;
  /** the VM has passed-through (VFIO) devices */
  passthrough: boolean;
  /** how they are passed: iommufd, or the legacy VFIO container */
  iommuApi: IommuApi;
  /** the VM's accelerator (vms[].qemu.accel) */
  accel: string;
}

/** Why a VM's passed-through devices cannot go with it to the new QEMU; undefined when they can. */
function passthroughWhyNot(f: CprTransferFacts): string | undefined {
  if (!atLeast(f.from, 10, 1) || !atLeast(f.to, 10, 1))
    return `a passed-through device is handed over by QEMU 10.1 or newer on both sides (${f.from ?? '?'} -> ${f.to ?? '?'})`;
  // QEMU's VFIO CPR moves the device's interrupts onto KVM irqfds: QEMU 11.1.3 without KVM
  // dereferences its absent KVM state on migrate (kvm_vm_ioctl) and dies, the VM with it
  if (!f.accel.startsWith('kvm'))
    return `a passed-through device is handed over only under KVM (this VM's accel is ${f.accel}): QEMU's VFIO hand-over moves the device's interrupts through KVM, and QEMU 11.1.3 without KVM crashes on migrate`;
  if (f.iommuApi !== 'iommufd')
    return 'a passed-through device is handed over only through iommufd here (iommu.api: iommufd); the legacy VFIO container is not proven';
  return undefined;
}

/** Why cpr-transfer cannot hand this VM over; undefined when it can. */
export function cprTransferWhyNot(f: CprTransferFacts): string | undefined {
  if (!atLeast(f.from, 10, 0) || !atLeast(f.to, 10, 0))
    return `needs QEMU 10.0 or newer on both sides (${f.from ?? '?'} -> ${f.to ?? '?'})`;
  if (f.backend === 'pkernfs') return 'not proven on the pkernfs backend yet (proven: pmem, luo)';
  if (f.passthrough) {
    const why = passthroughWhyNot(f);
    if (why) return why;
  }
  if (f.running !== true)
    return f.running === false
      ? 'the VM is not running: there is no QEMU to hand it over'
      : 'the facts do not say whether the VM runs (gathered before liveupdate looked)';
  if (f.auxRamShare !== true)
    return "its QEMU was started without -machine aux-ram-share=on, so QEMU's own memory cannot be handed over; this update restarts it with it (liveupdate starts QEMU 10.0+ so), the next one can";
  return undefined;
}

/**
 * Across a kexec both QEMUs are never alive together, so cpr-transfer never applies there: auto
 * picks cpr-reboot where QEMU has it (8.2), else x-ignore-shared (works on 7.2). A VMM-only update
 * (`vmm`: its facts) hands each VM to the new QEMU with cpr-transfer when nothing stands in the way:
 * no state file, the VM paused only while QEMU moves its device state.
 */
export function selectMigrationMode(
  wanted: MigrationMode,
  qemuVersion: string | undefined,
  vmm?: CprTransferFacts,
): { mode: MigrationPath; why: string; cprWhyNot?: string } {
  if (wanted === 'cpr-transfer') throw new Error('cpr-transfer cannot span a kexec (the profile rules reject it)');
  // a VMM-only update: why cpr-transfer cannot hand the VM over (undefined: it can)
  const cprWhyNot = vmm ? cprTransferWhyNot(vmm) : undefined;
  const not = cprWhyNot ? { cprWhyNot } : {};
  if (wanted === 'x-ignore-shared' || wanted === 'cpr-reboot') return { mode: wanted, why: 'set in the profile', ...not };
  if (vmm && !cprWhyNot)
    return {
      mode: 'cpr-transfer',
      why: `auto: a VMM-only update, QEMU ${vmm.from} -> ${vmm.to} (10.0+ both), guest RAM on ${vmm.backend === 'luo' ? 'a memfd the LUO holder keeps' : 'pmem'} and QEMU's own memory shared: the new QEMU takes them over while the old one is alive, no state file`,
    };
  if (atLeast(qemuVersion, 8, 2)) return { mode: 'cpr-reboot', why: `auto: QEMU ${qemuVersion} has cpr-reboot (8.2+)`, ...not };
  return {
    mode: 'x-ignore-shared',
    why: `auto: QEMU ${qemuVersion ?? 'of unknown version'} predates cpr-reboot (8.2), using x-ignore-shared`,
    ...not,
  };
}

/**
 * QEMU 8.2 added `file:` migration; older QEMU streams through a shell. QEMU reports `completed`
 * before it reaps the exec child, so the stream goes to `.part` and is renamed only once `cat`
 * has written all of it: the state file exists only when whole.
 */
export function migrationUris(stateFile: string, qemuVersion: string | undefined): { out: string; in: string } {
  if (atLeast(qemuVersion, 8, 2)) return { out: `file:${stateFile}`, in: `file:${stateFile}` };
  const q = (p: string): string => `'${p.replace(/'/g, `'\\''`)}'`;
  return { out: `exec:cat > ${q(`${stateFile}.part`)} && mv ${q(`${stateFile}.part`)} ${q(stateFile)}`, in: `exec:cat ${q(stateFile)}` };
}

/**
 * Why a VM does not take QEMU's other CPR modes. cpr-transfer (10.0) keeps both QEMUs alive and
 * cpr-exec (10.2) execs the new one in the same process: neither spans a kexec.
 */
export function modesNotTaken(
  update: 'kernel' | 'vmm',
  from: string | undefined,
  to: string | undefined,
  taken: MigrationPath,
  cprWhyNot: string | undefined,
): Array<{ mode: 'cpr-transfer' | 'cpr-exec'; why: string }> {
  if (update === 'kernel') {
    return [
      { mode: 'cpr-transfer', why: 'needs the old and the new QEMU alive at once: not across a kexec' },
      { mode: 'cpr-exec', why: 'execs the new QEMU in the same process: not across a kexec' },
    ];
  }
  const both = (major: number, minor: number): boolean => atLeast(from, major, minor) && atLeast(to, major, minor);
  const cprExec = {
    mode: 'cpr-exec' as const,
    why: both(10, 2)
      ? "not driven by liveupdate: it execs the new QEMU in the old one's process, leaving no old QEMU to take the VM back if the new one fails its check (cpr-transfer does)"
      : `needs QEMU 10.2 or newer on both sides (${from ?? '?'} -> ${to ?? '?'})`,
  };
  if (taken === 'cpr-transfer') return [cprExec];
  return [{ mode: 'cpr-transfer', why: cprWhyNot ?? `the profile sets migration.mode ${taken}` }, cprExec];
}

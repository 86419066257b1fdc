import type { MigrationMode } from '../profile/types.js';

export type KexecMigrationMode = 'x-ignore-shared' | 'cpr-reboot';

export function parseVersion(v: string | undefined): [number, number, number] | undefined {
  const m = /^([0-9]+)\.([0-9]+)(?:\.([0-9]+))?/.exec(v ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

export function atLeast(v: string | undefined, major: number, minor: number): boolean {
  const p = parseVersion(v);
  return !!p && (p[0] > major || (p[0] === major && p[1] >= minor));
}

/**
 * Across a kexec both QEMUs are never alive together, so cpr-transfer (10.0) never applies here:
 * auto picks cpr-reboot where QEMU has it (8.2), else x-ignore-shared (works on 7.2).
 */
export function selectMigrationMode(wanted: MigrationMode, qemuVersion: string | undefined): { mode: KexecMigrationMode; why: string } {
  if (wanted === 'x-ignore-shared' || wanted === 'cpr-reboot') return { mode: wanted, why: 'set in the profile' };
  if (wanted === 'cpr-transfer') throw new Error('cpr-transfer cannot span a kexec (the profile rules reject it)');
  if (atLeast(qemuVersion, 8, 2)) return { mode: 'cpr-reboot', why: `auto: QEMU ${qemuVersion} has cpr-reboot (8.2+)` };
  return { mode: 'x-ignore-shared', why: `auto: QEMU ${qemuVersion ?? 'of unknown version'} predates cpr-reboot (8.2), using x-ignore-shared` };
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
export function modesNotTaken(update: 'kernel' | 'vmm', from: string | undefined, to: string | undefined): Array<{ mode: 'cpr-transfer' | 'cpr-exec'; why: string }> {
  if (update === 'kernel') {
    return [
      { mode: 'cpr-transfer', why: 'needs the old and the new QEMU alive at once: not across a kexec' },
      { mode: 'cpr-exec', why: 'execs the new QEMU in the same process: not across a kexec' },
    ];
  }
  const both = (major: number, minor: number): boolean => atLeast(from, major, minor) && atLeast(to, major, minor);
  return [
    { mode: 'cpr-transfer', why: both(10, 0) ? 'not driven by liveupdate yet: the VMM update saves the device state, quits the old QEMU and restores in the new one' : `needs QEMU 10.0 or newer on both sides (${from ?? '?'} -> ${to ?? '?'})` },
    { mode: 'cpr-exec', why: both(10, 2) ? 'not driven by liveupdate yet' : `needs QEMU 10.2 or newer on both sides (${from ?? '?'} -> ${to ?? '?'})` },
  ];
}

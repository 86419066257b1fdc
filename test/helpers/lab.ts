import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JournalRecord } from '../../src/exec/journal.js';
import { LAB_CACHE, labImageCached, labKernelCached } from '../../src/lab/lab.js';

/**
 * The lab tests never build: `npm run lab:build` (the artefacts stage of scripts/test, also run by
 * `npm run test:lab`) builds or reuses every artefact first, so no test timeout contains a build.
 * Throws with what to run when an artefact is missing.
 */
export function requireLabArtefacts(opts: { luo?: boolean; pkernfs?: boolean; qemus?: boolean } = {}): void {
  const missing = [
    ...(!opts.luo && !opts.pkernfs && !labImageCached('debian') ? ['the Debian lab image'] : []),
    ...(opts.luo && !labKernelCached('luo') ? ['the LUO lab kernel'] : []),
    ...((opts.luo || opts.qemus) && !existsSync(join(LAB_CACHE, 'qemu-10', '.versions')) ? ['QEMU 10'] : []),
    ...(opts.qemus && !existsSync(join(LAB_CACHE, 'qemu-11', '.versions')) ? ['QEMU 11'] : []),
    ...(opts.luo && !labImageCached('luo') ? ['the LUO lab image'] : []),
    ...(opts.pkernfs && !labKernelCached('pkernfs') ? ['the pkernfs lab kernel'] : []),
    ...(opts.pkernfs && !labImageCached('pkernfs') ? ['the pkernfs lab image'] : []),
  ];
  if (missing.length) throw new Error(`${missing.join(', ')} not built in ${LAB_CACHE}: run \`npm run lab:build${opts.luo ? ' -- luo' : opts.pkernfs ? ' -- pkernfs' : ' -- debian'}\` first`);
}

/** Every record of every run in a --journal-dir: the open run's journal and the finished runs' (renamed `HOST.journal.RUNID`). */
export function journalRecords(dir: string): JournalRecord[] {
  return readdirSync(dir)
    .filter((f) => f.includes('.journal'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as JournalRecord));
}

/**
 * QEMU 10 (bookworm-backports) and 11 (trixie-backports, with its Debian 13 libraries) unpacked on
 * this machine by lab/qemu/fetch-qemu1{0,1}.sh (the test command's install stage runs both), beside
 * Debian 12's 7.2: the check stage's VMM updates move real VMs between them.
 */
export const LOCAL_QEMU = {
  '7.2': '/usr/bin/qemu-system-x86_64',
  '10.0': join(LAB_CACHE, 'qemu-10', 'usr', 'bin', 'qemu-system-x86_64'),
  '11.1': join(LAB_CACHE, 'qemu-11', 'usr', 'bin', 'qemu-system-x86_64'),
} as const;

export function requireLocalQemus(): void {
  const missing = (['10.0', '11.1'] as const).filter((v) => !existsSync(LOCAL_QEMU[v]));
  if (missing.length) throw new Error(`QEMU ${missing.join(' and ')} not unpacked in ${LAB_CACHE}: run \`bash lab/qemu/fetch-qemu10.sh && bash lab/qemu/fetch-qemu11.sh\` (the test command's install stage does)`);
}

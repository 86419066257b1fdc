import { after, before } from 'node:test';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JournalRecord } from '../../src/exec/journal.js';
import { parseTarget, SshHost } from '../../src/host/ssh.js';
import { bootLab, LAB_CACHE, labImageCached, labKernelCached, type BootOptions, type LabHost } from '../../src/lab/lab.js';
import { counterOn } from '../../src/lab/counter.js';
import { bootIdOf, mustRun, waitNewBoot } from './remote.js';

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
  if (missing.length)
    throw new Error(
      `${missing.join(', ')} not built in ${LAB_CACHE}: run \`npm run lab:build${opts.luo ? ' -- luo' : opts.pkernfs ? ' -- pkernfs' : ' -- debian'}\` first`,
    );
}

/** Every record of every run in a --journal-dir: the open run's journal and the finished runs' (renamed `HOST.journal.RUNID`). */
export function journalRecords(dir: string): JournalRecord[] {
  return readdirSync(dir)
    .filter((f) => f.includes('.journal'))
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as JournalRecord),
    );
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
  if (missing.length)
    throw new Error(
      `QEMU ${missing.join(' and ')} not unpacked in ${LAB_CACHE}: run \`bash lab/qemu/fetch-qemu10.sh && bash lab/qemu/fetch-qemu11.sh\` (the test command's install stage does)`,
    );
}

/** One lab host for a whole test file: what its tests reach it by. */
export interface LabFixture {
  readonly lab: LabHost;
  /** SSH to it as root, open for the whole file (reset it after a kexec) */
  readonly ssh: SshHost;
  /** argv on the lab host, which must exit 0; its trimmed stdout */
  remote: (argv: string[]) => Promise<string>;
}

/** The flags that reach the fixture's lab host as any control node does: --host, --identity, --known-hosts. */
export const labHostFlags = (fx: LabFixture): string[] => [
  '--host',
  fx.lab.target,
  '--identity',
  fx.lab.identity,
  '--known-hosts',
  fx.lab.knownHosts,
];

/**
 * The lab tests' one harness: before the file's tests, the artefacts are required (never built: a
 * build is never inside a test timeout), the lab host is resumed from its booted snapshot (or booted,
 * with `cold`), SSH opened and `setUp` run; after them, pass or fail, both are closed. `qemus`: the
 * test needs QEMU 10 and 11 on the control node too.
 */
export function useLab(
  name: string,
  opts: BootOptions & { qemus?: boolean; timeoutMs?: number } = {},
  setUp?: (fx: LabFixture) => Promise<void>,
): LabFixture {
  let lab: LabHost | undefined;
  let ssh: SshHost | undefined;
  before(
    async () => {
      requireLabArtefacts({ luo: opts.kernel === 'luo', pkernfs: opts.kernel === 'pkernfs', qemus: opts.qemus === true });
      lab = await bootLab(name, opts);
      ssh = new SshHost(parseTarget(lab.target), { identity: lab.identity, knownHosts: lab.knownHosts });
      // in this hook: node's test runner runs a file's before hooks at once, not one after another
      await setUp?.(fx);
    },
    { timeout: opts.timeoutMs ?? 300_000 },
  );
  after(async () => {
    await ssh?.close();
    await lab?.stop();
  });
  const need = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error(`lab ${name} is not up: its before hook failed`);
    return v;
  };
  const fx: LabFixture = {
    get lab() {
      return need(lab);
    },
    get ssh() {
      return need(ssh);
    },
    remote: (argv) => mustRun(need(ssh), argv),
  };
  return fx;
}

/** What the counter VM and the host were before an update, and are after it. */
export interface AcrossUpdate {
  bootBefore: string;
  bootAfter: string;
  counterBefore: { status: string; value: bigint };
  counterAfter: { status: string; value: bigint };
}

/**
 * The two stages around one update, as the kernel's liveupdate selftests have them: before it, the
 * host's boot and the counter VM's count (running); then `update`; after it, a new boot (waited for,
 * up to `bootTimeoutMs`), and the counter read again. The caller asserts what it needs of both.
 */
export async function acrossUpdate(fx: LabFixture, update: () => Promise<void>, bootTimeoutMs = 600_000): Promise<AcrossUpdate> {
  const bootBefore = await bootIdOf(fx.ssh);
  const counterBefore = await counterOn(fx.ssh);
  await update();
  const bootAfter = await waitNewBoot(fx.ssh, bootBefore, bootTimeoutMs);
  return { bootBefore, bootAfter, counterBefore, counterAfter: await counterOn(fx.ssh) };
}

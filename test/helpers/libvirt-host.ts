/**
 * A host whose VMs libvirt runs, on this machine: a real libvirtd (started here when none runs, as
 * the test command installs it), a real domain running the counter guest under Debian 12's QEMU,
 * and a profile naming it. The one double is the facts edit of local-qemu.ts (a loop-mounted ext4
 * reported as an active pmem carve-out). Used by test/integration/libvirt-domains.test.ts and
 * bench:libvirt.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gatherFacts } from '../../src/facts/gather.js';
import { LocalHost } from '../../src/host/local.js';
import { requireProfile } from '../../src/profile/load.js';
import type { JournalRecord } from '../../src/exec/journal.js';
import { ROOT } from './paths.js';
import { withActivePmem } from './local-qemu.js';
import { openRunJournal } from './cli-host.js';
import { tempDir } from './temp.js';

export const URI = 'qemu:///system';

export const virsh = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync('virsh', ['-c', URI, ...args], { encoding: 'utf8' });

let startedDaemon = false;

/** libvirtd answers; started here (as its own units start it: no service manager here) when none runs. */
export async function ensureLibvirtd(): Promise<void> {
  assert.ok(spawnSync('sh', ['-c', 'command -v virsh libvirtd']).status === 0, 'libvirt is installed by the test command (scripts/test)');
  if (virsh('-q', 'version').status !== 0) {
    if (spawnSync('pgrep', ['-x', 'virtlogd']).status !== 0) execFileSync('virtlogd', ['-d']);
    execFileSync('libvirtd', ['-d']);
    startedDaemon = true;
    for (let i = 0; i < 100 && virsh('-q', 'version').status !== 0; i++) await sleep(200);
  }
  assert.equal(virsh('-q', 'version').status, 0, 'libvirtd answers');
}

/** The daemon stopped again if ensureLibvirtd (or a restart) started it. */
export function stopLibvirtdIfStarted(): void {
  if (startedDaemon) spawnSync('pkill', ['-x', 'libvirtd']);
}

/** libvirtd stopped and started as at boot: its once-per-boot autostart marker (/run is new after a kexec) gone. */
export async function restartLibvirtdAsAtBoot(): Promise<void> {
  spawnSync('pkill', ['-x', 'libvirtd']);
  for (let i = 0; i < 100 && spawnSync('pgrep', ['-x', 'libvirtd']).status === 0; i++) await sleep(100);
  rmSync('/run/libvirt/qemu/autostarted', { force: true });
  execFileSync('libvirtd', ['-d']);
  for (let i = 0; i < 100 && virsh('-q', 'version').status !== 0; i++) await sleep(200);
  startedDaemon = true;
}

/** A domain running the counter guest from `disk` under Debian 12's QEMU (TCG), with nothing else: its XML. */
export function counterDomainXml(name: string, disk: string, memoryMiB = '64'): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>${memoryMiB}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

let seq = 0;

export type DomainHost = Awaited<ReturnType<typeof domainHost>>;

/** `body` on a fresh domain host, cleaned up whatever happens. */
export async function withDomainHost(opts: Parameters<typeof domainHost>[0], body: (h: DomainHost) => Promise<void> | void): Promise<void> {
  const h = await domainHost(opts);
  try {
    await body(h);
  } finally {
    h.cleanup();
  }
}

/** A host with a carve-out mount (loop ext4), a domain of libvirt's running the counter guest, and a profile naming it. */
export async function domainHost(
  opts: {
    ram?: 'copy' | 'in-place';
    memory?: string;
    stateDir?: string;
    /** MiB its guest fills at boot (counter-img.py --fill) */ fillMiB?: number;
  } = {},
) {
  const dir = tempDir('/var/tmp/lu-libvirt-');
  const mount = join(dir, 'pmem');
  mkdirSync(mount);
  // sparse: room for the save image of all its RAM, never less than 512M
  execFileSync('truncate', ['-s', `${Math.max(512, 2 * Number(opts.memory ?? '64') + 256)}M`, join(dir, 'fs.img')]);
  execFileSync('mkfs.ext4', ['-q', '-F', join(dir, 'fs.img')]);
  execFileSync('mount', ['-o', 'loop', join(dir, 'fs.img'), mount]);
  mkdirSync(join(mount, 'state'));
  // libvirt's QEMU runs as its own user: the disk image must be readable to it
  execFileSync('chmod', ['755', dir]);
  execFileSync('python3', [
    join(ROOT, 'lab/image/counter-img.py'),
    join(dir, 'counter.img'),
    ...(opts.fillMiB ? ['--fill', String(opts.fillMiB)] : []),
  ]);
  const name = `lu-dom-${process.pid}-${seq++}`;
  writeFileSync(join(dir, 'domain.xml'), counterDomainXml(name, `${dir}/counter.img`, opts.memory ?? '64'));
  const cleanup = (): void => {
    virsh('destroy', name);
    virsh('undefine', name);
    spawnSync('umount', [mount]);
    rmSync(dir, { recursive: true, force: true });
  };
  const def = virsh('define', join(dir, 'domain.xml'));
  const start = def.status === 0 ? virsh('start', name) : def;
  if (start.status !== 0) {
    // nothing of a host that did not come up is left behind
    cleanup();
    assert.fail(`the test's domain did not start: ${start.stderr}`);
  }
  const profile = join(dir, 'profile.yaml');
  writeFileSync(
    profile,
    `version: 1
host: {name: lvhost}
persistence: {backend: pmem, size: 1G, offset: 16G, mount: ${mount}}
kexec: {kernel: /bin/true}
migration: {stateDir: ${opts.stateDir ?? `${mount}/state`}, timeout: 120s}
journal: {dir: ${dir}/journal}
runtime: {dir: ${dir}/run}
libvirt:
  domains: [${name}]
${opts.ram ? `  ram: ${opts.ram}\n` : ''}`,
  );
  const facts = join(dir, 'facts.json');
  const refreshFacts = async (): Promise<void> => {
    const real = await gatherFacts(new LocalHost(), requireProfile(profile).profile);
    writeFileSync(facts, JSON.stringify({ ...withActivePmem(real, 'lvhost'), files: { ...real.files, '/bin/true': 1 } }));
  };
  await refreshFacts();
  return {
    dir,
    mount,
    name,
    profile,
    facts,
    refreshFacts,
    cli: (args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args], { encoding: 'utf8', timeout: 500_000 }),
    /** the counter guest's count, read from its RAM through libvirt's monitor (the test's reading taints the domain; liveupdate's steps never do) */
    counter: (): bigint => {
      const peek = spawnSync('virsh', ['-c', URI, 'qemu-monitor-command', '--hmp', name, 'xp /1gx 0x7e00'], { encoding: 'utf8' });
      assert.equal(peek.status, 0, peek.stderr);
      return BigInt(peek.stdout.trim().split(/\s+/).at(-1)!);
    },
    journal: (): JournalRecord[] => openRunJournal(join(dir, 'journal')),
    cleanup,
  };
}

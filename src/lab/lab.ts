/**
 * Lab hosts: the Debian 12 image from lab/image/build.sh (cached in .cache/lab), booted under
 * QEMU TCG with an emulated intel-iommu, 256M of legacy pmem at 1G (memmap=256M!1G), an e1000e
 * for VFIO, and OpenSSH's sshd on a loopback port. Everything here is real; nothing is simulated.
 * Used by `liveupdate demo`, the lab tests and bench:lab.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LiveupdateError } from '../errors.js';
import { parseTarget, SshHost } from '../host/ssh.js';
import { QmpClient } from '../qemu/qmp.js';
import { claimLabDir, ownLabHost, sweepStaleLabHosts } from './leases.js';

/** The package root (this file runs as dist/src/lab/lab.js). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const LAB_CACHE = process.env['LAB_CACHE'] ?? join(PACKAGE_ROOT, '.cache', 'lab');
export const LAB_PROFILE = join(PACKAGE_ROOT, 'profiles', 'lab.yaml');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/** True when nothing listens on 127.0.0.1:port and we may bind it. */
export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer().listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    s.on('error', () => resolve(false));
  });
}

export interface LabHost {
  name: string;
  /** this boot's own folder under .cache/lab/vms (disk, serial log, known_hosts, owner record) */
  dir: string;
  port: number;
  target: string;
  identity: string;
  knownHosts: string;
  serialLog: string;
  proc: ChildProcess;
  /** wait for a line in the serial console (e.g. after kexec) */
  waitSerial: (re: RegExp, timeoutMs: number, from?: number) => Promise<string>;
  serialText: () => string;
  /** plug or unplug the cable of the NIC that carries SSH (QMP set_link on the lab's QEMU): a cut network */
  setLink: (up: boolean) => Promise<void>;
  stop: () => Promise<void>;
}

/** Which kernel a lab host boots, and so which image it boots from. */
export type LabKernel = 'debian' | 'luo' | 'pkernfs';

/**
 * The image a lab host boots: lab-base.ext4 (Debian), lab-luo.ext4 (the same, plus the LUO kernel
 * and QEMU 10), or lab-pkernfs.ext4 (the same, plus the pkernfs kernel).
 */
const labImage = (kernel: LabKernel): { image: string; stamp: string } =>
  kernel === 'debian'
    ? { image: join(LAB_CACHE, 'lab-base.ext4'), stamp: join(LAB_CACHE, 'image.stamp') }
    : { image: join(LAB_CACHE, `lab-${kernel}.ext4`), stamp: join(LAB_CACHE, `image-${kernel}.stamp`) };

/** True when the cached image is complete (build.sh then only checks its stamp, in seconds). */
export function labImageCached(kernel: LabKernel = 'debian'): boolean {
  const { image, stamp } = labImage(kernel);
  return existsSync(image) && existsSync(stamp);
}

/**
 * Build (or reuse) a lab image: a few minutes the first time (Debian packages, debootstrap), seconds
 * after; the LUO and pkernfs ones need their lab kernel built first (ensureLabKernel). Each progress line of the
 * builder goes to onLine; a failure carries the builder's last lines.
 */
export async function ensureLabImage(onLine: (line: string) => void = () => undefined, kernel: LabKernel = 'debian'): Promise<void> {
  await runScript(join(PACKAGE_ROOT, 'lab/image/build.sh'), 'lab image build', join(LAB_CACHE, 'logs'), onLine, [kernel]);
}

async function runScript(script: string, what: string, logs: string, onLine: (line: string) => void, args: string[] = []): Promise<void> {
  const child = spawn('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LAB_CACHE } });
  const tail: string[] = [];
  const take = (line: string): void => {
    tail.push(line);
    if (tail.length > 30) tail.shift();
    if (process.env['LAB_VERBOSE']) process.stderr.write(line + '\n');
    onLine(line);
  };
  createInterface({ input: child.stdout }).on('line', take);
  createInterface({ input: child.stderr }).on('line', take);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) {
    // the builders say the cause of a failure they recognise on a line of its own (e.g. a stale mount)
    const cause = tail.filter((l) => /^(lab-build|lab-kernel|qemu-1[01]): /.test(l)).pop();
    throw new LiveupdateError(
      'LAB_UNAVAILABLE',
      `${what} failed (exit ${code})${cause ? `: ${cause}` : ''}${tail.length ? `; its last lines:\n${tail.join('\n')}` : ''}`,
      {
        hint: `more in ${logs}; the script is ${script} (run it with bash -x to see the failing line)`,
      },
    );
  }
}

/** The lab kernels built by lab/kernel/build.sh (the Debian lab host boots Debian's own). */
export type BuiltLabKernel = Exclude<LabKernel, 'debian'>;

/** True when that lab kernel (`lab/kernel/build.sh luo|pkernfs`) is built and cached. */
export function labKernelCached(kernel: BuiltLabKernel): boolean {
  return existsSync(join(LAB_CACHE, `${kernel}-kernel`, 'bzImage'));
}

/** Build (or reuse) a small lab kernel: 10 to 15 minutes on 2 cores the first time, seconds after. */
export async function ensureLabKernel(kernel: BuiltLabKernel, onLine: (line: string) => void = () => undefined): Promise<void> {
  await runScript(
    join(PACKAGE_ROOT, 'lab/kernel/build.sh'),
    `the ${kernel === 'luo' ? 'LUO' : kernel} lab kernel build`,
    join(LAB_CACHE, `${kernel}-kernel`, 'build.log'),
    onLine,
    [kernel],
  );
}

/** Where every lab image has QEMU 10 (bookworm-backports) and 11 (trixie-backports); the system's QEMU is bookworm's 7.2. */
export const LAB_QEMU10 = '/opt/qemu-10/usr/bin/qemu-system-x86_64';
export const LAB_QEMU11 = '/opt/qemu-11/usr/bin/qemu-system-x86_64';

export const LAB_LUO_PROFILE = join(PACKAGE_ROOT, 'profiles', 'lab-luo.yaml');
export const LAB_PKERNFS_PROFILE = join(PACKAGE_ROOT, 'profiles', 'lab-pkernfs.yaml');
export const LAB_VFIO_CPR_PROFILE = join(PACKAGE_ROOT, 'profiles', 'lab-vfio-cpr.yaml');

/**
 * The pkernfs lab host's carve-out (512M at 1G), as the RFC kernel was booted and measured: nokaslr
 * is required (KASLR only avoids memmap= ranges given with #, $ or !), liveupdate only on a kexec.
 */
export const LAB_PKERNFS_PARAMS = 'nokaslr memmap=512M%1G nopat pkernfs=512M!1G';

/** Ended, by exiting or by a signal. */
const exited = (p: ChildProcess): boolean => p.exitCode !== null || p.signalCode !== null;

/**
 * The lab store (lab/store.sh): content-keyed artefacts every clone on this machine shares, among
 * them the booted lab hosts' snapshots.
 */
export const LAB_STORE = join(process.env['LIVEUPDATE_CACHE'] ?? '/var/cache/liveupdate', 'lab');

export interface BootOptions {
  memory?: string;
  extraAppend?: string;
  port?: number;
  kernel?: LabKernel;
  /** the lab host outlives this process (demo --keep); such a host always boots from cold */
  keep?: boolean;
  init?: 'lab' | 'systemd';
  /** boot the kernel from cold instead of resuming the booted snapshot (also LAB_COLD_BOOT=1) */
  cold?: boolean;
}

/** What one lab host's QEMU is given of its own: the rest of its argv is the machine's. */
interface Instance {
  port: number;
  disk: string;
  serialLog: string;
  qmp: string;
}

/** A lab machine: its QEMU argv for an instance, and the key of everything its booted state depends on. */
interface LabMachine {
  argv: (i: Instance) => string[];
  image: string;
  key: string;
  /** why its instances cannot start from a snapshot, when they cannot */
  notResumable?: string;
}

let qemuVersion: string | undefined;

function labMachine(name: string, opts: BootOptions): LabMachine {
  const C = LAB_CACHE;
  const kernel = opts.kernel ?? 'debian';
  const luo = kernel === 'luo';
  // the built lab kernels boot without an initrd, straight into the lab's init
  const own = 'console=ttyS0 root=/dev/vda rw rootfstype=ext4 init=/sbin/lab-init';
  const params = {
    debian: `console=ttyS0 root=/dev/vda rw memmap=256M!1G intel_iommu=on iommu=pt${opts.init === 'systemd' ? ' lab.init=/lib/systemd/systemd' : ''}`,
    luo: `${own} kho=on liveupdate=on intel_iommu=on iommu=pt`,
    pkernfs: `${own} ${LAB_PKERNFS_PARAMS} intel_iommu=on`,
  }[kernel];
  const append = `${params} panic=-1 lab.hostname=lab ${opts.extraAppend ?? ''}`.trim();
  // one vCPU for the LUO kernel: on the third boot of a kexec chain, 7.2 under multi-threaded TCG with
  // two vCPUs once died of an int3 Oops while patching its own text (sched_clock going stable)
  const files =
    kernel === 'debian'
      ? [join(C, 'kernel', 'boot', `vmlinuz-${readFileSync(join(C, 'kernel.release'), 'utf8').trim()}`), join(C, 'initrd.img')]
      : [join(C, `${kernel}-kernel`, 'bzImage')];
  const boot = files.length === 2 ? ['-kernel', files[0]!, '-initrd', files[1]!] : ['-kernel', files[0]!];
  const argv = (i: Instance): string[] => [
    'qemu-system-x86_64',
    '-name',
    `lab-${name}`,
    '-accel',
    'tcg,thread=multi',
    '-cpu',
    'max',
    '-M',
    'q35',
    '-smp',
    luo ? '1' : '2',
    '-m',
    opts.memory ?? '2G',
    '-device',
    'intel-iommu,intremap=on,caching-mode=on',
    ...boot,
    '-append',
    append,
    '-drive',
    `file=${i.disk},if=virtio,format=qcow2`,
    '-netdev',
    `user,id=n0,hostfwd=tcp:127.0.0.1:${i.port}-:22`,
    '-device',
    'virtio-net-pci,netdev=n0',
    '-netdev',
    'user,id=n1,restrict=on',
    '-device',
    'e1000e,netdev=n1,id=vfnic',
    // appended to: a resumed lab host's log starts with its snapshot's boot
    '-display',
    'none',
    '-chardev',
    `file,id=serial0,path=${i.serialLog},append=on`,
    '-serial',
    'chardev:serial0',
    '-monitor',
    'none',
    '-no-reboot',
    '-qmp',
    `unix:${i.qmp},server=on,wait=off`,
  ];
  const image = realpathSync(labImage(kernel).image);
  qemuVersion ??= execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  // the argv with the instance's own paths and port left out and the clone's folder named alike (every
  // clone on the machine shares the snapshot), the files behind the clone's links, the QEMU
  const key = createHash('sha256')
    .update(
      JSON.stringify([
        argv({ port: 0, disk: '', serialLog: '', qmp: '' })
          .slice(3)
          .map((a) => a.split(C).join('$LAB_CACHE')),
        image,
        files.map((f) => realpathSync(f)),
        qemuVersion,
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  return {
    argv,
    image,
    key,
    // found by trying: the pkernfs kernel runs with DMA translation for every device (no iommu=pt), so
    // the q35 AHCI that SeaBIOS left running has no IOMMU mapping, and QEMU's reload of its state
    // fails ("Failed to start FIS receive engine: bad FIS receive buffer address")
    ...(kernel === 'pkernfs' ? { notResumable: 'QEMU cannot reload the AHCI state behind its vIOMMU' } : {}),
  };
}

/**
 * A lab host. By default it is resumed from a snapshot of the same machine booted once (the lab
 * store's entry snapshot-KEY, made the first time and kept for every clone on this machine): seconds
 * instead of a TCG boot. `debian` runs Debian's 6.1 kernel (legacy pmem at 1G) from the Debian
 * image; `luo` the LUO lab kernel (Linux 7.2, KHO + LUO + iommufd, KVM on the emulated AMD SVM,
 * everything built in, no initrd) with kho=on liveupdate=on from the LUO image; `pkernfs` the
 * pkernfs RFC kernel (6.1, everything built in) with its carve-out from the pkernfs image.
 * `init: 'systemd'` runs the same image with systemd as PID 1 instead of the lab's own init.
 *
 * What every copy of one snapshot shares until its first kexec: the boot_id and the kernel's random
 * state; so do the host key (one for every lab image) and the NICs' MAC addresses (each lab host is
 * alone on its own user-mode network). Its clock is set from this machine's as it resumes, and each
 * lab host gets a machine id of its own. Everything after the start is real: the kexec, the new boot, the agent, the VMs.
 */
export async function bootLab(name: string, opts: BootOptions = {}): Promise<LabHost> {
  const machine = labMachine(name, opts);
  if (opts.keep || opts.cold || machine.notResumable || process.env['LAB_COLD_BOOT'] === '1') {
    const lab = await startInstance(name, machine, opts, { backing: machine.image, format: 'raw' });
    await lab.waitSerial(/LAB-MARK sshd-started/, 180_000);
    await ownMachine(await answering(lab), false);
    return lab;
  }
  const snapshot = await ensureSnapshot(name, machine, opts);
  const lab = await startInstance(name, machine, opts, {
    backing: join(snapshot, 'disk.qcow2'),
    format: 'qcow2',
    serial: join(snapshot, 'serial.log'),
    incoming: join(snapshot, 'state'),
  });
  const c = await qmpOf(lab, 60_000);
  try {
    await loaded(c, lab, snapshot);
  } finally {
    await c.close();
  }
  await answering(lab);
  await ownMachine(lab, true);
  return lab;
}

/**
 * A machine id of its own, as a cloned VM is given one (liveupdate tells machines apart by it: a fleet
 * run refuses a second host that is a machine it already has); `clock`: the snapshot's clock stood
 * still since it was taken, so this machine's time, to the millisecond.
 */
async function ownMachine(lab: LabHost, clock: boolean): Promise<void> {
  const ssh = new SshHost(parseTarget(lab.target), { identity: lab.identity, knownHosts: lab.knownHosts });
  try {
    const r = await ssh.exec([
      'sh',
      '-c',
      '{ [ -z "$1" ] || date -u -s "$1" >/dev/null; } && od -An -N16 -tx1 /dev/urandom | tr -d " \\n" > /etc/machine-id',
      'sh',
      clock ? `@${(Date.now() / 1000).toFixed(3)}` : '',
    ]);
    if (r.exitCode !== 0) throw new Error(`lab ${lab.name}: setting the resumed host's clock and machine id failed: ${r.stderr}`);
  } finally {
    await ssh.close();
  }
}

/** Wait until `lab` has loaded its snapshot, then run it (it was saved stopped, so it comes back paused). */
async function loaded(c: QmpClient, lab: LabHost, snapshot: string): Promise<void> {
  try {
    for (;;) {
      const status = (await c.execute<{ status: string }>('query-status')).status;
      if (status === 'paused') await c.execute('cont');
      if (status === 'paused' || status === 'running') return;
      if (status !== 'inmigrate') throw new Error(`status ${status}`);
      await sleep(100);
    }
  } catch (e) {
    await lab.stop();
    throw new Error(`lab ${lab.name}: resuming the snapshot ${snapshot} failed (${(e as Error).message}); QEMU said: ${qemuSaid(lab)}`);
  }
}

/** The last lines QEMU wrote to its log (its stderr). */
function qemuSaid(lab: LabHost): string {
  const log = join(lab.dir, 'qemu.log');
  return (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-4).join(' / ') : '') || 'nothing';
}

/**
 * The booted snapshot of `machine`: made the first time (a boot from cold until the lab's ready mark,
 * then QEMU's migration of the stopped machine to a file, beside its disk frozen as a qcow2 overlay),
 * reused after. Returns the entry's folder.
 */
async function ensureSnapshot(name: string, machine: LabMachine, opts: BootOptions): Promise<string> {
  const entry = join(LAB_STORE, `snapshot-${machine.key}`);
  const complete = join(entry, '.complete');
  if (existsSync(complete)) {
    const now = new Date();
    utimesSync(complete, now, now); // used now: the store's pruning goes by this
    return entry;
  }
  const lab = await startInstance(`${name}-snapshot`, machine, opts, { backing: machine.image, format: 'raw' });
  const state = join(lab.dir, 'state');
  try {
    await lab.waitSerial(/LAB-MARK ready/, 300_000);
    const c = await qmpOf(lab, 10_000);
    try {
      await c.execute('stop');
      await c.execute('migrate', { uri: `exec:cat > '${state}'` });
      for (;;) {
        const m = await c.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
        if (m.status === 'completed') break;
        if (m.status === 'failed' || m.status === 'cancelled')
          throw new Error(`lab ${name}: saving the booted snapshot failed: ${m['error-desc'] ?? m.status}`);
        await sleep(200);
      }
      await c.execute('quit').catch(() => undefined);
    } finally {
      await c.close();
    }
    await new Promise((r) => (exited(lab.proc) ? r(undefined) : lab.proc.once('exit', r)));
    const tmp = `${entry}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    // the clone's lab folder and the store may be on two file systems: copied, not renamed
    for (const f of ['disk.qcow2', 'state', 'serial.log']) copyFileSync(join(lab.dir, f), join(tmp, f));
    writeFileSync(join(tmp, '.complete'), `${Math.floor(Date.now() / 1000)}\n`);
    try {
      renameSync(tmp, entry);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      // another process made it meanwhile (the same machine): use that one; anything else is a failure
      if (!existsSync(complete)) throw e;
    }
  } finally {
    await lab.stop();
    rmSync(lab.dir, { recursive: true, force: true });
  }
  return entry;
}

async function qmpOf(lab: LabHost, timeoutMs: number): Promise<QmpClient> {
  const t0 = Date.now();
  for (;;) {
    try {
      return await QmpClient.connectUnix(join(lab.dir, 'qmp.sock'));
    } catch (e) {
      if (exited(lab.proc) || Date.now() - t0 > timeoutMs)
        throw new Error(`lab ${lab.name}: no QMP: ${(e as Error).message}; serial tail:\n${lab.serialText().slice(-2000)}`);
      await sleep(100);
    }
  }
}

/**
 * Start one lab host's QEMU in a folder of its own under LAB_CACHE/vms, its disk an overlay on
 * `backing`; `incoming`: resume the machine saved in that file, `serial`: its log so far.
 */
async function startInstance(
  name: string,
  machine: LabMachine,
  opts: BootOptions,
  from: { backing: string; format: 'raw' | 'qcow2'; serial?: string; incoming?: string },
): Promise<LabHost> {
  const C = LAB_CACHE;
  const vms = join(C, 'vms');
  // a lab host that an earlier run left behind (its owner died: a timeout, a SIGKILL) is stopped here
  for (const swept of sweepStaleLabHosts(vms)) process.stderr.write(`lab: ${swept}\n`);
  // each boot has its own folder, so no leftover of another run can hold this one's disk
  const dir = join(vms, `${name}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  claimLabDir(dir);
  const disk = join(dir, 'disk.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', from.format, '-b', from.backing, disk]);
  const port = opts.port ?? (await freePort());
  const serialLog = join(dir, 'serial.log');
  writeFileSync(serialLog, from.serial ? readFileSync(from.serial) : '');
  const qemu = [
    ...machine.argv({ port, disk, serialLog, qmp: join(dir, 'qmp.sock') }),
    ...(from.incoming ? ['-incoming', `exec:cat '${from.incoming}'`] : []),
  ];
  // QEMU dies with this process (the kernel sends it SIGKILL when we die, however we die), unless
  // the lab is to be kept (demo --keep); setpriv execs QEMU, so the pid is QEMU's own
  const log = openSync(join(dir, 'qemu.log'), 'a');
  const proc = spawn(opts.keep ? qemu[0]! : 'setpriv', opts.keep ? qemu.slice(1) : ['--pdeathsig', 'KILL', ...qemu], {
    // its own process group: a Ctrl-C in the terminal is ours to handle (tear down, or keep with --keep)
    stdio: ['ignore', 'ignore', log],
    detached: true,
  });
  closeSync(log);
  ownLabHost(dir, proc, opts.keep === true);
  const knownHosts = join(dir, 'known_hosts');
  const hostKey = readFileSync(join(C, 'host_key.pub'), 'utf8').trim();
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey}\n`);
  const serialText = (): string => (existsSync(serialLog) ? readFileSync(serialLog, 'utf8') : '');
  const waitSerial = async (re: RegExp, timeoutMs: number, from = 0): Promise<string> => {
    const t0 = Date.now();
    for (;;) {
      const text = serialText().slice(from);
      const m = re.exec(text);
      if (m) return m[0];
      if (exited(proc))
        throw new Error(`lab ${name} exited (${proc.exitCode ?? proc.signalCode}); serial tail:\n${serialText().slice(-2000)}`);
      if (Date.now() - t0 > timeoutMs)
        throw new Error(`lab ${name}: no ${String(re)} within ${timeoutMs} ms; serial tail:\n${serialText().slice(-2000)}`);
      await sleep(250);
    }
  };
  return {
    name,
    dir,
    port,
    target: `root@127.0.0.1:${port}`,
    identity: join(C, 'ssh', 'id_ed25519'),
    knownHosts,
    serialLog,
    proc,
    waitSerial,
    serialText,
    setLink: async (up) => {
      const c = await QmpClient.connectUnix(join(dir, 'qmp.sock'));
      try {
        await c.execute('set_link', { name: 'n0', up });
      } finally {
        await c.close();
      }
    },
    stop: async () => {
      if (!exited(proc)) {
        proc.kill('SIGKILL');
        await new Promise((r) => proc.once('exit', r));
      }
      // the serial log stays for a look afterwards; the disk goes (the next sweep takes the rest)
      rmSync(disk, { force: true });
    },
  };
}

/** `lab`, once its sshd answers through the port forward with an SSH banner. */
async function answering(lab: LabHost): Promise<LabHost> {
  for (let i = 0; i < 120; i++) {
    const banner = await new Promise<string>((r) => {
      const s = connect(lab.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => {
        got += d.toString();
        s.destroy();
      });
      s.on('close', () => r(got));
      s.on('error', () => r(''));
      setTimeout(() => s.destroy(), 3000);
    });
    if (banner.startsWith('SSH-')) return lab;
    if (exited(lab.proc)) break;
    await sleep(500);
  }
  await lab.stop();
  throw new Error(`lab ${lab.name}: no SSH banner on port ${lab.port}; serial tail:\n${lab.serialText().slice(-2000)}`);
}

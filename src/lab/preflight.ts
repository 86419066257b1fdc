/**
 * What `liveupdate demo` needs from this machine, checked before anything is built or started.
 * Every problem comes back with what to do about it; nothing here changes the machine.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { arch } from 'node:os';
import { GiB } from '../units.js';
import { labImageCached, LAB_CACHE, LAB_STORE, portFree } from './lab.js';

export interface Problem {
  what: string;
  fix: string;
}

/** The lab host is given 2 GiB; its QEMU and the page cache of its image need a little more. */
export const DEMO_MEMORY = 2.5 * GiB;
/** Debian packages, the debootstrap tree and the 1.5 GiB image. */
export const DEMO_DISK = 3 * GiB;

const onPath = (cmd: string): boolean => (process.env['PATH'] ?? '/usr/bin:/bin').split(':').some((d) => existsSync(`${d}/${cmd}`));

function memAvailable(): number | undefined {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Who listens on a TCP port, per `ss -p` (e.g. `qemu-system-x86 (pid 1234)`), when it says. */
export function portHolder(port: number): string | undefined {
  try {
    const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(out);
    return m ? `${m[1]} (pid ${m[2]})` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * PIDs of lab hosts named `lab-NAME` booted from this lab cache (every lab QEMU runs with -name
 * lab-NAME and its disk in LAB_CACHE/vms/): a lab of another checkout, with a cache of its own,
 * is no conflict.
 */
export function runningLabs(name: string): number[] {
  try {
    const lines = execFileSync('pgrep', ['-a', '-f', '--', `-name lab-${name} `], { encoding: 'utf8' })
      .trim()
      .split('\n');
    return lines.filter((l) => l.includes(`${LAB_CACHE}/vms/`)).map((l) => Number(l.split(' ')[0]));
  } catch {
    return [];
  }
}

export async function demoPreflight(opts: { port: number; uid?: number; memAvailable?: number }): Promise<Problem[]> {
  const problems: Problem[] = [];
  const uid = opts.uid ?? process.getuid?.();
  if (uid !== 0)
    problems.push({
      what: 'the demo needs root: it installs Debian packages, runs debootstrap and mounts the lab image',
      fix: 'run it as root (sudo liveupdate demo)',
    });
  if (arch() !== 'x64')
    problems.push({ what: `this machine is ${arch()}; the lab host is an x86_64 Debian image`, fix: 'run the demo on an x86_64 machine' });
  if (!onPath('apt-get') && (!onPath('qemu-system-x86_64') || !onPath('debootstrap'))) {
    problems.push({
      what: 'no apt-get to install QEMU and debootstrap, and they are not installed',
      fix: 'install qemu-system-x86, qemu-utils, debootstrap, kexec-tools, openssh-client, busybox-static, cpio, socat and e2fsprogs',
    });
  }
  const mem = opts.memAvailable ?? memAvailable();
  if (mem !== undefined && mem < DEMO_MEMORY) {
    problems.push({
      what: `too little free memory: ${(mem / GiB).toFixed(1)} GiB available, the lab host needs ${(DEMO_MEMORY / GiB).toFixed(1)} GiB`,
      fix: 'stop other VMs or processes, or use a machine with more memory',
    });
  }
  if (!labImageCached()) {
    // the image is built into the lab store
    let dir = LAB_STORE;
    while (!existsSync(dir)) dir = dirname(dir);
    const s = statfsSync(dir);
    const free = s.bavail * s.bsize;
    if (free < DEMO_DISK)
      problems.push({
        what: `too little disk space in ${LAB_STORE}: ${(free / GiB).toFixed(1)} GiB free, the lab image needs ${(DEMO_DISK / GiB).toFixed(0)} GiB`,
        fix: 'free some space, or point LIVEUPDATE_CACHE at a larger disk',
      });
  }
  const labs = runningLabs('demo');
  if (labs.length) {
    problems.push({
      what: `a demo lab is already running (pid ${labs.join(', ')}), probably left by 'liveupdate demo --keep'`,
      fix: `stop it first: kill ${labs.join(' ')}`,
    });
  } else if (!(await portFree(opts.port))) {
    const who = portHolder(opts.port);
    problems.push({
      what: `port ${opts.port} on 127.0.0.1 is in use${who ? ` by ${who}` : ''}; the lab host's SSH is forwarded there`,
      fix: `choose another with --port, or stop what holds it`,
    });
  }
  return problems;
}

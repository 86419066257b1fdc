/**
 * Who owns a lab host. Every boot writes `owner.json` in its own folder under .cache/lab/vms: the
 * QEMU pid, the pid of the process that started it (with its start time, so a reused pid is not
 * mistaken for it) and whether it is to be kept (demo --keep). Three layers stop a lab host whose
 * owner went away:
 * - QEMU runs under `setpriv --pdeathsig KILL`: the kernel kills it when its owner dies, SIGKILL
 *   included (bootLab);
 * - the owner kills its lab hosts when it exits (a test runner giving up on a hook, an uncaught error);
 * - the next bootLab sweeps folders whose owner is gone: their QEMU (only if that pid is still the
 *   process it recorded, by start time) is killed and the folder removed.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Owner {
  qemuPid: number;
  qemuStart: string;
  ownerPid: number;
  ownerStart: string;
  keep: boolean;
}

/** The start time of a process (field 22 of /proc/PID/stat), or undefined when there is none. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const alive = (pid: number, start: string): boolean => processStart(pid) === start;

const owned = new Set<ChildProcess>();
let hooked = false;

/** Claim a new lab host folder for this process, before anything is started in it. */
export function claimLabDir(dir: string): void {
  writeOwner(dir, { qemuPid: 0, qemuStart: '', keep: false });
}

/** owner.json, with this process as the owner. */
function writeOwner(dir: string, o: Omit<Owner, 'ownerPid' | 'ownerStart'>): void {
  const owner: Owner = { ...o, ownerPid: process.pid, ownerStart: processStart(process.pid) ?? '' };
  writeFileSync(join(dir, 'owner.json'), JSON.stringify(owner) + '\n', { mode: 0o600 });
}

/** Record the lab host's QEMU in `dir`; unless `keep`, it dies with this process. */
export function ownLabHost(dir: string, proc: ChildProcess, keep: boolean): void {
  const pid = proc.pid;
  if (pid === undefined) return; // spawn failed: its 'error' event says why, nothing runs
  writeOwner(dir, { qemuPid: pid, qemuStart: processStart(pid) ?? '', keep });
  if (keep) return;
  owned.add(proc);
  proc.once('exit', () => owned.delete(proc));
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const p of owned) p.kill('SIGKILL');
    });
  }
}

/**
 * Stop every lab host under `vms` whose owner is gone and which is not kept, and remove its folder
 * (a kept one is removed once its QEMU is gone). Returns one line per host stopped or folder removed.
 */
export function sweepStaleLabHosts(vms: string): string[] {
  if (!existsSync(vms)) return [];
  const said: string[] = [];
  for (const entry of readdirSync(vms, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(vms, entry.name);
    let o: Owner | undefined;
    try {
      o = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as Owner;
    } catch {
      o = undefined; // a boot that died before QEMU started, or a foreign folder: nothing runs for it
    }
    if (o && alive(o.ownerPid, o.ownerStart)) continue; // its owner runs: a boot in progress, or a lab in use
    const qemuUp = o !== undefined && o.qemuStart !== '' && alive(o.qemuPid, o.qemuStart);
    if (o && qemuUp && o.keep) continue;
    if (o && qemuUp) {
      try {
        process.kill(o.qemuPid, 'SIGKILL');
        said.push(`stopped lab host ${entry.name} (QEMU pid ${o.qemuPid}), left running by pid ${o.ownerPid} which is gone`);
      } catch {
        /* it ended meanwhile */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return said;
}

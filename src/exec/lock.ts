/**
 * One run at a time per host: a lock file beside the journal, on the host itself, naming the run, who
 * asked, when, the process and the boot. It never expires by time (a blackout may be long); it is stale
 * only when its process is gone or it was taken in an earlier boot (a kexec ends every process).
 */
import { closeSync, linkSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { openPrivate } from './files.js';
import { LiveupdateError } from '../errors.js';

export interface LockOwner {
  runId: string;
  /** who asked: user@control-node, or `boot` for the boot-time resume */
  who: string;
  at: number;
  pid: number;
  bootId: string;
  command: string;
}

export interface Acquired {
  owner: LockOwner;
  /** a stale lock this one replaced, and why it was stale */
  replaced?: { owner: LockOwner; why: string };
  release: () => void;
}

function read(file: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    // a zombie is as good as gone: it can hold nothing
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Why `owner` no longer holds anything, or undefined while it does. */
export function staleness(owner: LockOwner, bootId: string): string | undefined {
  if (owner.bootId !== bootId) return `it was taken in an earlier boot (${owner.bootId})`;
  if (!alive(owner.pid)) return `its process ${owner.pid} is gone`;
  return undefined;
}

export function describeOwner(o: LockOwner): string {
  return `run ${o.runId} (${o.command}) asked by ${o.who} at ${new Date(o.at).toISOString()}, pid ${o.pid}`;
}

/**
 * Take the lock: created whole and linked into place (no reader ever sees half a file); a stale one is
 * moved aside atomically first, so of two processes replacing it only one wins.
 */
export function acquireLock(file: string, owner: Omit<LockOwner, 'pid' | 'at'> & { pid?: number; at?: number }): Acquired {
  const me: LockOwner = { ...owner, pid: owner.pid ?? process.pid, at: owner.at ?? Date.now() };
  const tmp = `${file}.${me.pid}.tmp`;
  const fd = openPrivate(tmp, 'create');
  try {
    writeSync(fd, JSON.stringify(me) + '\n');
  } finally {
    closeSync(fd);
  }
  let replaced: Acquired['replaced'];
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw e;
      }
      const held = read(file);
      const why = held ? staleness(held, me.bootId) : 'it is unreadable';
      if (held && !why) {
        throw new LiveupdateError('HOST_BUSY', `another live update holds this host: ${describeOwner(held)}; nothing was done`, {
          hint: `follow it with 'liveupdate status --follow', or wait for it to finish (the lock is ${file})`,
        });
      }
      try {
        renameSync(file, `${file}.stale`);
        replaced = { owner: held ?? { runId: '?', who: '?', at: 0, pid: 0, bootId: '?', command: '?' }, why: why! };
      } catch {
        // another process moved it first: try again
      }
    }
  } finally {
    unlinkSync(tmp);
  }
  return {
    owner: me,
    ...(replaced ? { replaced } : {}),
    release: () => {
      if (read(file)?.pid === me.pid && read(file)?.runId === me.runId) unlinkSync(file);
    },
  };
}

/** The lock as it is now: held (with its owner), stale (with why), or free. */
export function lockState(
  file: string,
  bootId: string,
): { state: 'free' } | { state: 'held'; owner: LockOwner } | { state: 'stale'; owner: LockOwner; why: string } {
  const o = read(file);
  if (!o) return { state: 'free' };
  const why = staleness(o, bootId);
  return why ? { state: 'stale', owner: o, why } : { state: 'held', owner: o };
}

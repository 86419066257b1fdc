/**
 * The files liveupdate keeps as root (journals, locks, fleet records): readable by root alone, in
 * folders of root's alone, never reached through a symlink, never one another user owns. Journals
 * say what ran on a hypervisor and steer what runs next: no one else may write, swap or read them.
 */
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { LiveupdateError } from '../errors.js';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** mkdir -p with 0700 for what it creates; an existing folder is left as it is, but may not be a symlink, another user's, or writable by others. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const st = lstatSync(dir);
  if (st.isSymbolicLink())
    throw new LiveupdateError('JOURNAL_CONFLICT', `${dir} is a symlink: liveupdate keeps its records only in a real folder`);
  // a folder another user owns or may write in lets them swap a record for one of theirs (rename over it)
  const uid = process.geteuid?.();
  if (uid !== undefined && st.uid !== uid)
    throw new LiveupdateError(
      'JOURNAL_CONFLICT',
      `${dir} belongs to uid ${st.uid}, not to this user (${uid}): liveupdate keeps its records only in its own folders`,
    );
  if ((st.mode & 0o022) !== 0)
    throw new LiveupdateError(
      'JOURNAL_CONFLICT',
      `${dir} is writable by ${st.mode & 0o002 ? 'every user' : 'its group'} (mode ${(st.mode & 0o7777).toString(8)}): another user could replace liveupdate's records there`,
      { hint: `chmod go-w ${dir}, or choose another folder` },
    );
}

/**
 * Open `file` for appending (created 0600, in a 0700 folder): refused when it is a symlink or
 * belongs to another user; an existing file with looser permissions is set to 0600.
 */
export function openPrivate(file: string, how: 'append' | 'create' = 'append'): number {
  privateDir(dirname(file));
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (how === 'append' ? constants.O_APPEND : constants.O_TRUNC);
  let fd: number;
  try {
    fd = openSync(file, flags, PRIVATE_FILE_MODE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP')
      throw new LiveupdateError('JOURNAL_CONFLICT', `${file} is a symlink: liveupdate writes its records only to a real file`, {
        cause: e,
      });
    throw e;
  }
  const st = fstatSync(fd);
  const uid = process.geteuid?.();
  if (uid !== undefined && st.uid !== uid) {
    closeSync(fd);
    throw new LiveupdateError(
      'JOURNAL_CONFLICT',
      `${file} belongs to uid ${st.uid}, not to this user (${uid}): liveupdate does not write records another user owns`,
    );
  }
  if ((st.mode & 0o077) !== 0) fchmodSync(fd, PRIVATE_FILE_MODE);
  return fd;
}

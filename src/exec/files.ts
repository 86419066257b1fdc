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

/** mkdir -p with 0700 for what it creates; an existing folder is left as it is, but may not be a symlink. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (lstatSync(dir).isSymbolicLink())
    throw new LiveupdateError('JOURNAL_CONFLICT', `${dir} is a symlink: liveupdate keeps its records only in a real folder`);
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

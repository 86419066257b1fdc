/** Files the operator names for liveupdate to write (a saved plan, a fleet report). */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, lstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { LiveupdateError } from '../errors.js';

/**
 * A file the operator named (`plan --out`, `fleet run --report`), written whole or not at all: the
 * text goes to a new file of its own beside it (O_EXCL and O_NOFOLLOW under an unpredictable name, so
 * nothing planted there is followed or reused; 0600), is synced, then renamed over `file`. What is
 * there already is replaced only when it is a regular file: a device (`/dev/null`), a FIFO, a
 * folder or a symlink is refused, never replaced.
 */
export function writeWhole(file: string, text: string, what: string): void {
  let st;
  try {
    st = lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new LiveupdateError('USAGE', `${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (st && !st.isFile())
    throw new LiveupdateError(
      'USAGE',
      `${what} ${file}: it is ${st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? 'a folder' : 'not a regular file'}; liveupdate replaces only a regular file (or writes a new one)`,
    );
  const part = join(dirname(file), `.${basename(file)}.${randomBytes(8).toString('hex')}.part`);
  let fd: number | undefined;
  try {
    fd = openSync(part, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    writeSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(part, file);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(part, { force: true });
    throw new LiveupdateError('USAGE', `${what} ${file}: cannot write it: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

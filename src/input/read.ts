/**
 * Reading a file an operator names (a profile, an inventory, a facts file): a regular file only,
 * and at most MAX_INPUT_BYTES, read with that bound (a character device, a FIFO or a file that keeps
 * growing is refused, never read without end).
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { LiveupdateError, type ErrorCode } from '../errors.js';
import { formatSize } from '../units.js';

/** Far above any real profile, inventory or facts file (the largest fixture is under 40 KiB). */
export const MAX_INPUT_BYTES = 4 * 2 ** 20;

/** `what` names the file in messages ("profile", "inventory", "facts file"); `code` is the error for an unreadable one. */
export function readInputFile(file: string, what: string, code: ErrorCode): string {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below)
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new LiveupdateError(code, `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new LiveupdateError(code, `${what} ${file} is not a regular file (${kindOf(st)})`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(64 * 1024);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > MAX_INPUT_BYTES)
        throw new LiveupdateError(code, `${what} ${file} is larger than ${formatSize(MAX_INPUT_BYTES)}, the most liveupdate reads`);
      chunks.push(buf.subarray(0, n));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

/** What binds a saved plan to the input it was made from (plan/saved.ts). */
export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Reading a file an operator names (a profile, an inventory, a facts file): a regular file only,
 * and at most MAX_INPUT_BYTES, read with that bound (a character device, a FIFO or a file that keeps
 * growing is refused, never read without end).
 */
import { createHash } from 'node:crypto';
import { LiveupdateError, type ErrorCode } from '../errors.js';
import { readBounded, whyUnreadable } from '../bounded-read.js';

/** `what` names the file in messages ("profile", "inventory", "facts file"); `code` is the error for an unreadable one. */
export function readInputFile(file: string, what: string, code: ErrorCode): string {
  try {
    return readBounded(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EISDIR') throw new LiveupdateError(code, `${what} ${file} is not a regular file (a directory)`, { cause: err });
    if (e.code === 'EINVAL' || e.code === 'EFBIG') throw new LiveupdateError(code, `${what} ${e.message}`, { cause: err });
    throw new LiveupdateError(code, `cannot read ${what} ${file}: ${whyUnreadable(err)}`, { cause: err });
  }
}

/** What binds a saved plan to the input it was made from (plan/saved.ts). */
export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

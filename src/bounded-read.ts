/**
 * The one bounded reader, for every file liveupdate reads (what an operator names, keys, SSH
 * configuration, journals): a leaf, so the on-host agent reads its journal with it too.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { formatSize } from './units.js';

/** Far above any real profile, inventory or facts file (the largest fixture is under 40 KiB). */
export const MAX_INPUT_BYTES = 4 * 2 ** 20;

let nullDevice: number | undefined;
/** /dev/null's device number: OpenSSH's way of saying "no file" (`-F /dev/null`, `UserKnownHostsFile /dev/null`). */
const isNullDevice = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === (nullDevice ??= statSync('/dev/null').rdev);

/**
 * The one bounded reader: `file` as text when it is a regular file of at most `maxBytes`, read in
 * chunks with that bound (never a FIFO a writer holds open, a device, or a file that keeps growing).
 * With `nullIsEmpty`, /dev/null reads as an empty file, as OpenSSH reads it.
 * Fails with an errno-style error: the open's own (ENOENT, EACCES), EISDIR for a folder, EINVAL
 * for any other file that is not regular, EFBIG past the bound; its message says which.
 */
export function readBounded(file: string, maxBytes: number = MAX_INPUT_BYTES, opts: { nullIsEmpty?: boolean } = {}): string {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below)
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  const fail = (code: string, message: string): never => {
    throw Object.assign(new Error(message), { code });
  };
  try {
    const st = fstatSync(fd);
    if (opts.nullIsEmpty && isNullDevice(st)) return '';
    if (st.isDirectory()) fail('EISDIR', `${file} is a directory`);
    if (!st.isFile()) fail('EINVAL', `${file} is not a regular file (${kindOf(st)})`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(64 * 1024);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) fail('EFBIG', `${file} is larger than ${formatSize(maxBytes)}, the most liveupdate reads`);
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

/** Why readBounded failed, for a message: the errno code, and for the refusals it makes itself (EISDIR, EINVAL, EFBIG) what it found. */
export function whyUnreadable(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const said = e.code ? MEANING[e.code] : undefined;
  return `${e.code ?? String(err)}${e.code === 'EISDIR' || e.code === 'EINVAL' || e.code === 'EFBIG' ? ` (${e.message})` : said ? ` (${said})` : ''}`;
}

/** The errno codes a path can give, in words: the code stays first, for searching. */
const MEANING: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  ENOTDIR: 'a folder on its path is not a folder',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'input/output error',
};

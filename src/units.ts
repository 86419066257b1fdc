/**
 * Sizes in profiles are binary (512M is 512 MiB), as the kernel's memparse and QEMU read them: the
 * unit in either case (4g), and GiB-style spellings too (4GiB). A bare number is bytes. Byte counts
 * stay exact in a number up to 2^53.
 */
const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;
export const TWO_MIB = 2 * MiB;

export function parseSize(text: string): number {
  const m = /^([0-9]+)(?:([KMGTkmgt])(?:iB)?)?$/.exec(text);
  if (!m) throw new Error(`not a size: ${text}`);
  return Number(m[1]) * UNITS[(m[2] ?? '').toUpperCase()]!;
}

/** Shortest exact spelling memparse accepts: 1073741824 -> 1G, 1610612736 -> 1536M. */
export function formatSize(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    const u = UNITS[unit]!;
    if (bytes >= u && bytes % u === 0) return `${bytes / u}${unit}`;
  }
  return String(bytes);
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** 500ms, 90s, 5m, 1h; a bare number is seconds (as systemd reads one). */
export function parseDuration(text: string | number): number {
  const m = /^([0-9]+)(ms|s|m|h)?$/.exec(String(text));
  if (!m) throw new Error(`not a duration: ${text}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === undefined || m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
}

/** The largest size a profile may give (1024T): far above any machine, and exact in a number. */
export const MAX_SIZE = 2 ** 50;
/** The longest duration a profile or inventory may give: a day is far above any boot or migration, and below the 2^31 ms Node's timers take. */
export const MAX_DURATION_MS = 24 * 3600 * 1000;

/** A duration as a profile would spell it: 90000 -> 90s, 86400000 -> 1440m. */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

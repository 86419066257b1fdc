/**
 * Rolling batches, as operators know them from Ansible's `serial`: a number, a percentage of the
 * hosts in play, or a list whose last value repeats ([1, 5, "20%"]: a canary, then 5, then 20 %
 * at a time). Pure.
 */
export type Serial = number | string | Array<number | string>;

/** One batch size from a serial value: "N%" is of all hosts in play, rounded down, at least 1. */
function size(v: number | string, total: number): number {
  if (typeof v === 'number') return Math.max(1, Math.floor(v));
  const m = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(v.trim());
  if (m) return Math.max(1, Math.floor((Number(m[1]) / 100) * total));
  const n = Number(v);
  if (Number.isFinite(n) && n >= 1) return Math.floor(n);
  throw new Error(`serial value '${v}' is neither a count nor a percentage`);
}

/** Splits hosts (in inventory order) into batches. */
export function batches<T>(hosts: readonly T[], serial: Serial | undefined): T[][] {
  if (!hosts.length) return [];
  const list = serial === undefined ? [hosts.length] : Array.isArray(serial) ? serial : [serial];
  if (!list.length) return [hosts.slice()];
  const out: T[][] = [];
  let i = 0;
  let k = 0;
  while (i < hosts.length) {
    const n = size(list[Math.min(k, list.length - 1)]!, hosts.length);
    out.push(hosts.slice(i, i + n));
    i += n;
    k++;
  }
  return out;
}

/**
 * Ansible's "exceeded" semantics: a batch fails when its failed share is strictly above the
 * percentage. 0 stops at the first failure; 100 never stops.
 */
export function budgetExceeded(failed: number, batchSize: number, maxFailPercentage: number): boolean {
  if (failed === 0) return false;
  return (failed / batchSize) * 100 > maxFailPercentage;
}

/**
 * Which waiting hosts may start now: at most `concurrency` running in all, and at most
 * `maxPerLabel[key]` running that share a value of label `key` (e.g. one per rack).
 */
export function startable<T extends { labels: Record<string, string> }>(
  waiting: readonly T[],
  running: readonly T[],
  concurrency: number,
  maxPerLabel: Record<string, number>,
): T[] {
  const picked: T[] = [];
  const busy = [...running];
  for (const h of waiting) {
    if (busy.length >= concurrency) break;
    const blocked = Object.entries(maxPerLabel).some(([key, max]) => {
      const v = h.labels[key];
      return v !== undefined && busy.filter((b) => b.labels[key] === v).length >= max;
    });
    if (blocked) continue;
    picked.push(h);
    busy.push(h);
  }
  return picked;
}

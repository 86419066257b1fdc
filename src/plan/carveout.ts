import type { HostFacts, IomemRange } from '../facts/types.js';
import type { Persistence } from '../profile/types.js';
import { formatSize, GiB, hex, parseSize, TWO_MIB } from '../units.js';
import { splitCmdline } from './cmdline.js';

export interface Range {
  start: number;
  size: number;
}

const end = (r: Range): number => r.start + r.size - 1;
const overlaps = (a: Range, s: number, e: number): boolean => a.start <= e && s <= end(a);

export function describeRange(r: Range): string {
  return `${hex(r.start)}-${hex(end(r))} (${formatSize(r.size)} at ${formatSize(r.start)})`;
}

/** The carve-out the running kernel was booted with, if its cmdline has one for this backend. */
export function activeCarveOut(p: Persistence, cmdline: string): Range | undefined {
  if (p.backend === 'luo') return undefined;
  const re = p.backend === 'pmem' ? /^memmap=([0-9]+[KMGT]?)!([0-9]+[KMGT]?)$/ : /^pkernfs=([0-9]+[KMGT]?)!([0-9]+[KMGT]?)$/;
  for (const w of splitCmdline(cmdline)) {
    const m = re.exec(w);
    if (m) {
      const r = { size: parseSize(m[1]!), start: parseSize(m[2]!) };
      if (p.offset === 'auto' || p.offset === r.start) {
        if (r.size === p.size) return r;
      }
    }
  }
  return undefined;
}

/** Problems with placing `r` in this memory map; empty when it is a safe carve-out. */
export function carveOutProblems(r: Range, iomem: IomemRange[], active: boolean, backend: 'pkernfs' | 'pmem'): string[] {
  const problems: string[] = [];
  if (r.start % TWO_MIB !== 0 || r.size % TWO_MIB !== 0) problems.push(`${describeRange(r)} is not 2 MiB aligned`);
  if (active) {
    // Already carved: pmem shows as its own top-level range; pkernfs's `%` removal leaves no System RAM there.
    if (backend === 'pmem') {
      const pm = iomem.find((t) => /Persistent Memory/.test(t.name) && t.start <= r.start && t.end >= end(r));
      if (!pm)
        problems.push(
          `the running kernel was booted with this carve-out but /proc/iomem shows no Persistent Memory at ${describeRange(r)}`,
        );
    } else {
      const ram = iomem.find((t) => t.name === 'System RAM' && overlaps(r, t.start, t.end));
      if (ram)
        problems.push(`the running kernel was booted with pkernfs at ${describeRange(r)} but /proc/iomem still lists System RAM there`);
    }
    return problems;
  }
  const ram = iomem.find((t) => t.name === 'System RAM' && t.start <= r.start && t.end >= end(r));
  if (!ram) {
    const hit = iomem.find((t) => overlaps(r, t.start, t.end));
    problems.push(
      hit
        ? `${describeRange(r)} is not inside one System RAM range of /proc/iomem: it overlaps '${hit.name}' ${hex(hit.start)}-${hex(hit.end)}`
        : `${describeRange(r)} is outside every range of /proc/iomem (beyond the end of memory?)`,
    );
    return problems;
  }
  for (const c of ram.children) {
    if (overlaps(r, c.start, c.end)) problems.push(`${describeRange(r)} overlaps '${c.name}' ${hex(c.start)}-${hex(c.end)}`);
  }
  return problems;
}

/**
 * Choose a carve-out of `size`: lowest 2 MiB-aligned place at or above 4 GiB (else 1 GiB) inside
 * System RAM that touches no kernel, crash-kernel or reserved range.
 */
export function chooseCarveOut(size: number, iomem: IomemRange[]): Range | undefined {
  for (const floor of [4 * GiB, GiB]) {
    for (const ram of iomem.filter((t) => t.name === 'System RAM').sort((a, b) => a.start - b.start)) {
      let start = Math.max(floor, Math.ceil(ram.start / TWO_MIB) * TWO_MIB);
      const busy = [...ram.children].sort((a, b) => a.start - b.start);
      for (;;) {
        const cand = { start, size };
        if (end(cand) > ram.end) break;
        const hit = busy.find((c) => overlaps(cand, c.start, c.end));
        if (!hit) return cand;
        start = Math.ceil((hit.end + 1) / TWO_MIB) * TWO_MIB;
      }
    }
  }
  return undefined;
}

export interface ResolvedCarveOut {
  range: Range;
  /** the running kernel already has it */
  active: boolean;
  problems: string[];
}

export function resolveCarveOut(p: Persistence, facts: HostFacts): ResolvedCarveOut | undefined {
  if (p.backend === 'luo') return undefined;
  const active = activeCarveOut(p, facts.cmdline);
  if (active) return { range: active, active: true, problems: carveOutProblems(active, facts.iomem, true, p.backend) };
  if (p.offset === 'auto') {
    const chosen = chooseCarveOut(p.size, facts.iomem);
    if (!chosen)
      return {
        range: { start: 0, size: p.size },
        active: false,
        problems: [`no free ${formatSize(p.size)} range inside System RAM for offset: auto`],
      };
    return { range: chosen, active: false, problems: [] };
  }
  const range = { start: p.offset, size: p.size };
  return { range, active: false, problems: carveOutProblems(range, facts.iomem, false, p.backend) };
}

/**
 * Facts a plan was made from, against the same host's facts read again: what reads otherwise now.
 * The agent asks this before it runs a plan a control node made a moment ago (issue 15: the plan is
 * bound to the host's boot and facts), so a host changed in between (a mount, a device, a QEMU
 * package, a kernel on disk) is refused instead of run with a plan made for another state.
 */
import type { HostFacts } from './types.js';

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * One line per field that differs (the collection time aside); empty when the host reads as it did.
 * `mountMatters` limits the mounts compared to those the plan depends on: a host mounts and unmounts
 * things of its own (a USB stick, a container's overlay) that have nothing to do with the update.
 */
export function factsDrift(
  planned: HostFacts,
  now: HostFacts,
  mountMatters: (m: HostFacts['mounts'][number]) => boolean = () => true,
): string[] {
  const out: string[] = [];
  planned = { ...planned, mounts: planned.mounts.filter(mountMatters) };
  now = { ...now, mounts: now.mounts.filter(mountMatters) };
  const keys = new Set([...Object.keys(planned), ...Object.keys(now)] as Array<keyof HostFacts>);
  keys.delete('collectedAt');
  // what a folder holds changes as liveupdate itself writes there (the agent's spool and journal beside
  // the plan's folders); the one that matters, the carve-out's mount point, is checked again just before the mount
  keys.delete('pathHolds');
  for (const k of keys) {
    const a = planned[k];
    const b = now[k];
    if (same(a, b)) continue;
    if (k === 'mounts') {
      const at = (ms: HostFacts['mounts']): Map<string, string> =>
        new Map(ms.map((m) => [m.target, `${m.source} ${m.fstype} ${m.options.join(',')}`]));
      const was = at(planned.mounts);
      const is = at(now.mounts);
      const gone = [...was.keys()].filter((t) => !is.has(t));
      const came = [...is.keys()].filter((t) => !was.has(t));
      const changed = [...is.keys()].filter((t) => was.has(t) && was.get(t) !== is.get(t));
      const parts = [...came.map((t) => `${t} mounted`), ...gone.map((t) => `${t} unmounted`), ...changed.map((t) => `${t} remounted`)];
      out.push(`mounts: ${parts.join(', ') || 'reordered'}`);
    } else if (k === 'files') {
      const paths = new Set([...Object.keys(planned.files), ...Object.keys(now.files)]);
      const size = (n: number | null | undefined): string => (n === null || n === undefined ? 'missing' : `${n} bytes`);
      out.push(
        `files: ${[...paths]
          .filter((p) => planned.files[p] !== now.files[p])
          .map((p) => `${p} ${size(planned.files[p])} -> ${size(now.files[p])}`)
          .join(', ')}`,
      );
    } else if (k === 'vms') {
      const at = (vs: HostFacts['vms']): Map<string, string> =>
        new Map((vs ?? []).map((v) => [v.name, `pid ${v.pid}, QEMU ${v.version ?? '?'} on ${v.machine ?? '?'}`]));
      const was = at(planned.vms);
      const is = at(now.vms);
      const parts = [
        ...[...is.keys()].filter((n) => !was.has(n)).map((n) => `${n} started (${is.get(n)})`),
        ...[...was.keys()].filter((n) => !is.has(n)).map((n) => `${n} stopped`),
        ...[...is.keys()].filter((n) => was.has(n) && was.get(n) !== is.get(n)).map((n) => `${n} now ${is.get(n)} (was ${was.get(n)})`),
      ];
      out.push(`vms: ${parts.join(', ') || (planned.vms && now.vms ? 'reordered' : 'looked for in one probe only')}`);
    } else if (typeof a !== 'object' && typeof b !== 'object') {
      out.push(`${k}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
    } else {
      out.push(`${k}: differs`);
    }
  }
  return out;
}

/** The fleet as people read it: the per-host table, a line per fleet event, the plan summary (report/views/fleet.ts shows them). */
import type { FleetEvent, HostReport } from '../fleet/events.js';
import type { HostPlanRow } from '../app/fleet.js';
import { plainLine } from '../step-line.js';

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export function renderFleetTable(hosts: HostReport[]): string {
  const rows = hosts.map((h) => [
    h.host,
    String(h.batch + 1),
    h.state + (h.earlier ? ' (earlier)' : '') + (h.upToDate ? ' (up to date)' : ''),
    h.phaseReached ?? '-',
    h.blackouts.length ? h.blackouts.map((b) => `${b.vm} ${b.ms.toFixed(0)} ms`).join(', ') : '-',
    h.ms ? secs(h.ms) : '-',
    h.error ?? (h.upToDate ? `nothing to do: ${h.upToDate}` : ''),
  ]);
  const head = ['host', 'batch', 'state', 'phase reached', 'blackout per VM', 'duration', 'error'];
  const widths = head.map((t, i) => Math.min(60, Math.max(t.length, ...rows.map((r) => r[i]!.length))));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

export function plainFleetLine(e: FleetEvent): string | undefined {
  switch (e.type) {
    case 'fleet-run':
      return `fleet run ${e.runId}${e.resumed ? ' (resumed)' : ''}: ${e.hosts} host(s) in batches of ${e.batches.map((b) => b.length).join(', ')}\n`;
    case 'batch-start':
      return `batch ${e.batch + 1}: ${e.hosts.join(', ')}\n`;
    case 'host-start':
      return `  ${e.host}: started\n`;
    case 'host-step': {
      const l = e.event.type === 'step-failed' ? plainLine(e.event) : undefined;
      return l ? `  ${e.host}: ${l}` : undefined;
    }
    case 'gate':
      return `  ${e.host}: health gate ${e.ok ? 'passed' : `FAILED: ${e.message}`}\n`;
    case 'host-end':
      return `  ${e.host}: ${e.upToDate ? `up to date, skipped: ${e.upToDate}` : e.state}${e.error ? `: ${e.error}` : ''} (${secs(e.ms)})\n`;
    case 'batch-end':
      return `batch ${e.batch + 1}: ${e.size - e.failed} of ${e.size} ok\n`;
    case 'stopped':
      return `STOPPED: ${e.reason}\n`;
  }
}

/** `fleet plan` for people: the batches, each host's steps, and whether every host can be planned. */
export function renderFleetPlan(r: { batches: string[][]; hosts: HostPlanRow[] }): string {
  const bad = r.hosts.filter((h) => !h.ok);
  return (
    [
      `${r.hosts.length} host(s) in ${r.batches.length} batch(es): ${r.batches.map((b) => b.length).join(', ')}`,
      ...r.batches.map((b, i) => `  batch ${i + 1}: ${b.join(', ')}`),
      '',
      ...r.hosts.map((h) =>
        h.ok && h.upToDate
          ? `${h.host}  batch ${h.batch + 1}  up to date, nothing to do: ${h.upToDate}`
          : h.ok
            ? `${h.host}  batch ${h.batch + 1}  ${h.toDo}/${h.steps} step(s) to do, ${h.blackoutSteps} in the blackout${h.rebootFirst ? `\n    REBOOT FIRST: ${h.rebootFirst}` : ''}`
            : `${h.host}  batch ${h.batch + 1}  CANNOT PLAN: ${h.error}`,
      ),
      ...(r.hosts.some((h) => h.rebootFirst)
        ? [
            '',
            `${r.hosts.filter((h) => h.rebootFirst).length} host(s) need a reboot before their update: a run stops each of them after setting its boot parameters`,
          ]
        : []),
      '',
      bad.length ? `${bad.length} host(s) cannot be planned; nothing was changed` : 'every host can be planned; nothing was changed',
    ].join('\n') + '\n'
  );
}

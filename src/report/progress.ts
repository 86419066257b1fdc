import type { ExecuteResult } from '../exec/executor.js';

/** A run's outcome for people: blackouts, what the journal had, where it stopped. */
export function renderSummary(r: ExecuteResult, what: string): string {
  const lines: string[] = [];
  if (r.fromJournal.length) lines.push(`${r.fromJournal.length} step(s) were already done per the journal and were skipped`);
  for (const b of r.blackouts) {
    const parts = [
      b.saveMs !== undefined ? `save ${b.saveMs.toFixed(0)} ms` : '',
      b.loadMs !== undefined ? `load ${b.loadMs.toFixed(0)} ms` : '',
      b.qemuDowntimeMs !== undefined ? `QEMU downtime ${b.qemuDowntimeMs} ms` : '',
    ].filter(Boolean);
    lines.push(`blackout ${b.vm}: ${b.ms.toFixed(0)} ms${parts.length ? ` (${parts.join(', ')})` : ''}`);
  }
  if (r.ok) lines.push(`${what}: done (run ${r.runId})`);
  else for (const f of r.failures) lines.push(`${what} stopped at ${f.id}: ${f.message}`);
  if (r.aborted?.ok) lines.push('aborted before the point of no return: every VM runs again on this kernel, the staged kernel is unloaded');
  else if (r.aborted)
    for (const f of r.aborted.failures) lines.push(`the abort stopped at ${f.id}: ${f.message} (run liveupdate abort again)`);
  return lines.join('\n') + '\n';
}

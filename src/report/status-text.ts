import type { StatusDocument } from '../app/status.js';

/** `liveupdate status` for people: the run, where it stands, and what to do next. */
export function renderStatus(doc: StatusDocument): string {
  if (doc.run === null) return `no run recorded in ${doc.journal}\n`;
  const failed = Object.entries(doc.failed);
  const passed = doc.pointOfNoReturnPassed;
  const next = doc.finished
    ? 'nothing: the run is finished'
    : failed.length || doc.inFlight.length
      ? `fix the failure, then re-run the same command (it continues from the journal)${passed ? '' : ', or abort'}`
      : 'continue with the next phase';
  const lines = [
    `run ${doc.run.runId} for ${doc.run.host} (${doc.run.backend}), started ${new Date(doc.run.at).toISOString()} on boot ${doc.run.bootId}`,
    `journal: ${doc.journal}`,
    `state: ${doc.finished ? 'finished' : 'in progress'}; ${doc.done.length} step(s) done; point of no return ${passed ? 'PASSED' : 'not reached'}`,
    ...doc.inFlight.map((id) => `in flight (started, not recorded finished): ${id}`),
    ...failed.map(([id, f]) => `failed: ${id}: ${f.message}`),
    ...doc.blackouts.map((x) => `blackout ${x.vm}: ${x.ms.toFixed(0)} ms`),
    `next: ${next}`,
  ];
  return lines.join('\n') + '\n';
}

/**
 * A finished step as one line for people: the plain reporter's (report/human.ts, report/fleet-text.ts)
 * and the on-host agent's log (agent/agent.ts). A leaf both reach without either reaching the other:
 * it takes what it prints of an executor event (exec/events.ts ExecEvent has it) and imports nothing.
 */

/** What the line shows of a step's event. */
export type StepLineEvent =
  | { type: 'step-start' }
  | { type: 'step-failed'; id: string; at: number; ms: number; message: string }
  | { type: 'step-end'; id: string; at: number; ms: number; result: string; blackout: boolean };

/** The time of day a line starts with (UTC, to the millisecond). */
export const ts = (at: number): string => new Date(at).toISOString().slice(11, 23);

/** One line per finished step (none for a start). */
export function plainLine(e: StepLineEvent): string | undefined {
  if (e.type === 'step-start') return undefined;
  if (e.type === 'step-failed') return `${ts(e.at)} ✗ ${e.id} (${e.ms.toFixed(0)} ms): ${e.message}\n`;
  const mark = e.result === 'ok' ? '✓' : e.result === 'already-done' ? '=' : '-';
  const note = e.result === 'ok' ? '' : ` ${e.result}`;
  return `${ts(e.at)} ${mark} ${e.id}${note} (${e.ms.toFixed(0)} ms)${e.blackout ? ' [blackout]' : ''}\n`;
}

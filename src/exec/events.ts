import type { Phase, Step } from '../plan/types.js';

export type StepResult = 'ok' | 'already-done' | 'skipped';

export type ExecEvent =
  | { type: 'step-start'; id: string; phase: Phase; vm?: string; blackout: boolean; at: number }
  | { type: 'step-end'; id: string; phase: Phase; vm?: string; blackout: boolean; at: number; ms: number; result: StepResult; outcome?: Record<string, unknown> }
  | { type: 'step-failed'; id: string; phase: Phase; vm?: string; blackout: boolean; at: number; ms: number; code: string; message: string };

export const stepRef = (s: Step): { id: string; phase: Phase; vm?: string; blackout: boolean } => ({ id: s.id, phase: s.phase, ...(s.vm ? { vm: s.vm } : {}), blackout: s.blackout });

export interface Blackout {
  vm: string;
  /** stop sent -> cont answered, as the orchestrator measured it */
  ms: number;
  /** QEMU's own downtime figures from query-migrate, when it reported them */
  saveMs?: number;
  loadMs?: number;
  qemuDowntimeMs?: number;
}

/** Each VM's blackout from the event stream: from its `stop` step starting to its `cont` step ending. */
export function blackouts(events: ExecEvent[]): Blackout[] {
  const out = new Map<string, Blackout & { start?: number }>();
  for (const e of events) {
    if (!e.vm) continue;
    const b = out.get(e.vm) ?? { vm: e.vm, ms: NaN };
    out.set(e.vm, b);
    if (e.type === 'step-start' && /\/stop\//.test(e.id) && b.start === undefined) b.start = e.at;
    if (e.type !== 'step-end' || e.result !== 'ok') continue;
    if (/\/cont(-old)?\//.test(e.id) && b.start !== undefined) b.ms = e.at - b.start;
    if (/\/save\//.test(e.id)) {
      b.saveMs = e.ms;
      if (typeof e.outcome?.['downtimeMs'] === 'number') b.qemuDowntimeMs = e.outcome['downtimeMs'];
    }
    if (/\/load\//.test(e.id)) b.loadMs = e.ms;
  }
  return [...out.values()].filter((b) => !Number.isNaN(b.ms)).map(({ start: _s, ...b }) => b);
}

/** Where one VM's blackout went, from the executor's events of a full run (kernel update). */
export interface BlackoutBreakdown {
  windowMs: number;
  /** QEMU writing its device state */
  qemuSaveMs: number;
  /** `kexec -e` until the new boot answers (includes the new kernel's boot) */
  kexecMs: number;
  /** the new QEMU started, set up and its state loaded */
  qemuRestoreMs: number;
  /** the rest of the window: the orchestrator's round trips and checks */
  orchestratorMs: number;
}

export function blackoutBreakdown(events: ExecEvent[], vm: string): BlackoutBreakdown | undefined {
  const start = (id: string): number | undefined => events.find((e) => e.type === 'step-start' && e.id === id)?.at;
  const end = (id: string): (ExecEvent & { type: 'step-end' }) | undefined => events.find((e): e is ExecEvent & { type: 'step-end' } => e.type === 'step-end' && e.id === id);
  const stop = start(`suspend/stop/${vm}`);
  const cont = end(`resume/cont/${vm}`);
  const save = end(`suspend/save/${vm}`);
  const jump = start('kexec/kexec-exec');
  const booted = end('kexec/verify-boot');
  if (stop === undefined || !cont || !save || jump === undefined || !booted) return undefined;
  const windowMs = cont.at - stop;
  const kexecMs = booted.at - jump;
  const qemuRestoreMs = [`resume/restart/${vm}`, `resume/caps/${vm}`, `resume/load/${vm}`].reduce((n, id) => n + (end(id)?.ms ?? 0), 0);
  return { windowMs, qemuSaveMs: save.ms, kexecMs, qemuRestoreMs, orchestratorMs: windowMs - save.ms - kexecMs - qemuRestoreMs };
}

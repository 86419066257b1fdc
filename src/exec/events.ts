import type { Phase, Step, StepMarks } from '../plan/types.js';

export type StepResult = 'ok' | 'already-done' | 'skipped';

/** The step's marks as events and journal records carry them: the step's own, and the point of no return. */
export type EventMarks = StepMarks & { pointOfNoReturn?: true };

// a type, not an interface: events are also passed on as plain records (--json)
type StepRef = {
  id: string;
  phase: Phase;
  vm?: string;
  blackout: boolean;
  marks?: EventMarks;
};

/**
 * Where a run's events go while it runs (a host's steps, a fleet's hosts), and `finish` once it is
 * over (a terminal's live view closes): the one shape every progress display has.
 */
export interface Progress<E = ExecEvent> {
  emit: (e: E) => void;
  finish?: () => Promise<void>;
}

export type ExecEvent =
  | ({ type: 'step-start'; at: number } & StepRef)
  | ({ type: 'step-end'; at: number; ms: number; result: StepResult; outcome?: Record<string, unknown> } & StepRef)
  | ({ type: 'step-failed'; at: number; ms: number; code: string; message: string } & StepRef);

function marksOf(s: Step): EventMarks | undefined {
  const m: EventMarks = { ...s.marks, ...(s.pointOfNoReturn ? { pointOfNoReturn: true as const } : {}) };
  return Object.keys(m).length ? m : undefined;
}

export const stepRef = (s: Step): StepRef => {
  const marks = marksOf(s);
  return { id: s.id, phase: s.phase, ...(s.vm ? { vm: s.vm } : {}), blackout: s.blackout, ...(marks ? { marks } : {}) };
};

export interface Blackout {
  vm: string;
  /** stop sent -> cont answered, as the orchestrator measured it */
  ms: number;
  /** QEMU's own downtime figures from query-migrate, when it reported them */
  saveMs?: number;
  loadMs?: number;
  qemuDowntimeMs?: number;
}

/** Each VM's blackout from the event stream: from its blackoutStart step starting to its blackoutEnd step ending. */
export function blackouts(events: ExecEvent[]): Blackout[] {
  const out = new Map<string, Blackout & { start?: number }>();
  for (const e of events) {
    if (!e.vm) continue;
    const b = out.get(e.vm) ?? { vm: e.vm, ms: NaN };
    out.set(e.vm, b);
    if (e.type === 'step-start' && e.marks?.blackoutStart && b.start === undefined) b.start = e.at;
    if (e.type !== 'step-end' || e.result !== 'ok') continue;
    if (e.marks?.blackoutEnd && b.start !== undefined) b.ms = e.at - b.start;
    if (e.marks?.saveState) {
      b.saveMs = e.ms;
      if (typeof e.outcome?.['downtimeMs'] === 'number') b.qemuDowntimeMs = e.outcome['downtimeMs'];
    }
    if (e.marks?.restore === 'load') b.loadMs = e.ms;
  }
  return [...out.values()].filter((b) => !Number.isNaN(b.ms)).map(({ start: _s, ...b }) => b);
}

/**
 * Where one VM's blackout went, from the executor's events of a full run (kernel update), split as
 * the host agent's issue asks: save, kexec to restore start, restore, and the orchestrator's rest.
 * `kexecToRestoreMs` is `kexecMs` (the jump until the new boot is proven) plus `bootToRestoreMs`
 * (what the new boot does before the restore: the persistent memory mounted again, the state checked).
 */
export interface BlackoutBreakdown {
  windowMs: number;
  /** QEMU writing its device state */
  qemuSaveMs: number;
  /** `kexec -e` until the restore's first step starts */
  kexecToRestoreMs: number;
  /** of which: `kexec -e` until the new boot is proven (its kernel, its init, and whoever proves it: the agent started at boot, or the control node reconnecting) */
  kexecMs: number;
  /** of which: the boot proven until the restore starts (mounts, the saved state's check) */
  bootToRestoreMs: number;
  /** the new QEMU started, set up and its state loaded */
  qemuRestoreMs: number;
  /** the rest of the window: liveupdate's steps and the gaps between them before the jump (pause, check, quit, unmount, sync) and after the restore (cont) */
  orchestratorMs: number;
}

export function blackoutBreakdown(events: ExecEvent[], vm: string): BlackoutBreakdown | undefined {
  type End = ExecEvent & { type: 'step-end' };
  const ends = events.filter((e): e is End => e.type === 'step-end');
  const stop = events.find((e) => e.type === 'step-start' && e.vm === vm && e.marks?.blackoutStart)?.at;
  const cont = ends.find((e) => e.vm === vm && e.phase === 'resume' && e.marks?.blackoutEnd);
  const save = ends.find((e) => e.vm === vm && e.marks?.saveState);
  const jump = events.find((e) => e.type === 'step-start' && e.marks?.pointOfNoReturn)?.at;
  const booted = ends.find((e) => e.marks?.provesBoot);
  const restoreStart = events.find((e) => e.type === 'step-start' && e.vm === vm && e.phase === 'resume' && e.marks?.restore)?.at;
  if (stop === undefined || !cont || !save || jump === undefined || !booted || restoreStart === undefined) return undefined;
  const windowMs = cont.at - stop;
  const kexecMs = booted.at - jump;
  const kexecToRestoreMs = restoreStart - jump;
  const qemuRestoreMs = ends.filter((e) => e.vm === vm && e.phase === 'resume' && e.marks?.restore).reduce((n, e) => n + e.ms, 0);
  return {
    windowMs,
    qemuSaveMs: save.ms,
    kexecToRestoreMs,
    kexecMs,
    bootToRestoreMs: kexecToRestoreMs - kexecMs,
    qemuRestoreMs,
    orchestratorMs: windowMs - save.ms - kexecToRestoreMs - qemuRestoreMs,
  };
}

/**
 * bench:cpr — the blackout of a VMM-only update from QEMU 10.0 to 11.1 (real QEMUs, TCG, the real
 * CLI and journal), by cpr-transfer against the stop/save/restart path (cpr-reboot: save to a file,
 * quit, start the new QEMU, load), for identical VMs (the counter guest, 32 MiB on a pmem-like
 * mount), 1 and 4 at once. Each round makes a fresh host of each kind, alternating, so drift on the
 * machine hits both alike. Prints a table, then one JSON line of the figures, ratios first.
 * Target: cpr-transfer's blackout <= 0.5x the restart path's.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { JournalRecord } from '../src/exec/journal.js';
import type { Plan } from '../src/plan/types.js';
import { cliHost, journal, prepare } from '../test/helpers/cli-host.js';
import { LOCAL_QEMU, requireLocalQemus } from '../test/helpers/lab.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const SIZES = (process.env['BENCH_VMS'] ?? '1,4').split(',').map(Number);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Measured {
  /** the longest VM blackout (stop sent -> cont answered), the host's */
  ms: number;
  /** QEMU's own downtime figure, the longest */
  qemuMs: number;
  mode: string;
}

/** One VMM-only update of n fresh VMs; `restart`: the profile names cpr-reboot, so the VMs take the stop/save/restart path. */
async function update(n: number, restart: boolean): Promise<Measured> {
  const h = await cliHost({ vms: n, qemu: { binary: LOCAL_QEMU['10.0'], restoreBinary: LOCAL_QEMU['11.1'], machine: 'pc' }, ...(restart ? { migrationMode: 'cpr-reboot' } : {}) });
  try {
    await prepare(h);
    await h.refreshFacts();
    await sleep(300);
    const r = await h.cli(['run', '--phases', 'update', '--yes', '--vmm-only', '--profile', h.profile, '--facts', h.facts]);
    if (r.code !== 0) throw new Error(`update failed: ${r.stdout}${r.stderr}`);
    const recs = journal(h);
    const bo = recs.find((x): x is Extract<JournalRecord, { type: 'blackout' }> => x.type === 'blackout');
    if (!bo || bo.vms.length !== n) throw new Error(`the journal has ${bo?.vms.length ?? 0} blackouts, not ${n}`);
    const phase = recs.find((x): x is Extract<JournalRecord, { type: 'phase' }> => x.type === 'phase');
    const mode = (phase?.plan as Plan | undefined)?.vms[0]?.migrationMode ?? '?';
    if ((mode === 'cpr-transfer') === restart) throw new Error(`the VMs took ${mode}`);
    return { ms: Math.max(...bo.vms.map((v) => v.ms)), qemuMs: Math.max(...bo.vms.map((v) => v.qemuDowntimeMs ?? NaN)), mode };
  } finally {
    h.cleanup();
  }
}

requireLocalQemus();
const rows: Array<{ vms: number; cpr: number; restart: number; cprQemu: number; restartQemu: number }> = [];
for (const n of SIZES) {
  const cpr: Measured[] = [];
  const restart: Measured[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    restart.push(await update(n, true));
    cpr.push(await update(n, false));
  }
  const row = { vms: n, cpr: median(cpr.map((m) => m.ms)), restart: median(restart.map((m) => m.ms)), cprQemu: median(cpr.map((m) => m.qemuMs)), restartQemu: median(restart.map((m) => m.qemuMs)) };
  rows.push(row);
  console.log(
    `${n} VM${n > 1 ? 's' : ' '}  cpr-transfer ${row.cpr} ms (QEMU downtime ${row.cprQemu})  stop/save/restart (${restart[0]!.mode}) ${row.restart} ms (QEMU downtime ${row.restartQemu})  rounds: ${cpr.map((m) => m.ms).join('/')} vs ${restart.map((m) => m.ms).join('/')}`,
  );
}
const figures: Record<string, unknown> = {};
for (const r of rows) figures[`ratio_cpr_over_restart_${r.vms}vm`] = +(r.cpr / r.restart).toFixed(3);
for (const r of rows) {
  figures[`cpr_ms_${r.vms}vm`] = r.cpr;
  figures[`restart_ms_${r.vms}vm`] = r.restart;
  figures[`cpr_qemu_downtime_ms_${r.vms}vm`] = r.cprQemu;
  figures[`restart_qemu_downtime_ms_${r.vms}vm`] = r.restartQemu;
}
figures['qemu'] = '10.0.2 -> 11.1.3';
figures['rounds'] = ROUNDS;
figures['targets'] = { cpr_over_restart_max: 0.5 };
console.log(JSON.stringify({ bench: 'cpr', ...figures }));

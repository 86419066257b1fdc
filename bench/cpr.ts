/**
 * bench:cpr — the blackout of a VMM-only update from QEMU 10.0 to 11.1 (real QEMUs, TCG, the real
 * CLI and journal), by cpr-transfer against the stop/save/restart path (cpr-reboot: save to a file,
 * quit, start the new QEMU, load), for identical VMs (the counter guest, 32 MiB on a pmem-like
 * mount), 1 and 4 at once. Each round makes a fresh host of each kind, alternating, so drift on the
 * machine hits both alike. Two stopwatches: the orchestrator's (its journal: the first step that
 * pauses the VM starting to its cont answered) and the guest's (bench/guest-pause.py: the longest
 * time the guest's counter in its RAM did not move, sampled every ~0.5 ms). cpr-transfer's own step
 * starts while the guest still runs (the new QEMU builds the machine from the handed-over state
 * first), so the orchestrator's figure overstates its pause; the guest's is the one operators feel.
 * Prints a table, then one JSON line of the figures, ratios first.
 * Target: cpr-transfer's guest pause <= 0.5x the restart path's.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JournalRecord } from '../src/exec/journal.js';
import type { Plan } from '../src/plan/types.js';
import { cliHost, journal, prepare } from '../test/helpers/cli-host.js';
import { LOCAL_QEMU, requireLocalQemus } from '../test/helpers/lab.js';
import { ROOT } from '../test/helpers/paths.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const SIZES = (process.env['BENCH_VMS'] ?? '1,4').split(',').map(Number);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Measured {
  /** the longest VM blackout (stop sent -> cont answered), the host's */
  ms: number;
  /** the longest time a guest's counter stood still during the update */
  guestMs: number;
  /** the same, for a second with no update: what the machine's scheduling alone does */
  idleGuestMs: number;
  /** QEMU's own downtime figure, the longest */
  qemuMs: number;
  mode: string;
}

/** The longest stall of each guest's counter while `during` runs (300 ms either side). */
async function stopwatch(rams: string[], during: () => Promise<unknown>): Promise<number[]> {
  const watch = spawn('python3', [join(ROOT, 'bench/guest-pause.py'), ...rams], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  watch.stdout.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('ready')) await sleep(10);
  await sleep(300);
  try {
    await during();
  } finally {
    await sleep(300);
    watch.kill('SIGTERM');
    await once(watch, 'close');
  }
  return Object.values(JSON.parse(out.slice(out.indexOf('{'))) as Record<string, number>);
}

/** One VMM-only update of n fresh VMs; `restart`: the profile names cpr-reboot, so the VMs take the stop/save/restart path. */
async function update(n: number, restart: boolean): Promise<Measured> {
  const h = await cliHost({
    vms: n,
    qemu: { binary: LOCAL_QEMU['10.0'], restoreBinary: LOCAL_QEMU['11.1'], machine: 'pc' },
    spin: true,
    ...(restart ? { migrationMode: 'cpr-reboot' } : {}),
  });
  try {
    await prepare(h);
    await h.refreshFacts();
    const rams = h.names.map((vm) => join(h.mount, `${vm}.ram`));
    // the noise floor: the same stopwatch for as long, with nothing happening to the VMs
    const idle = await stopwatch(rams, () => sleep(1000));
    let r: Awaited<ReturnType<typeof h.cli>> | undefined;
    const stalls = await stopwatch(rams, async () => {
      r = await h.cli(['run', '--phase', 'update', '--yes', '--vmm-only', '--profile', h.profile, '--facts', h.facts]);
    });
    if (r?.code !== 0) throw new Error(`update failed: ${r?.stdout}${r?.stderr}`);
    const recs = journal(h);
    const bo = recs.find((x): x is Extract<JournalRecord, { type: 'blackout' }> => x.type === 'blackout');
    if (!bo || bo.vms.length !== n) throw new Error(`the journal has ${bo?.vms.length ?? 0} blackouts, not ${n}`);
    const phase = recs.find((x): x is Extract<JournalRecord, { type: 'phase' }> => x.type === 'phase');
    const mode = (phase?.plan as Plan | undefined)?.vms[0]?.migrationMode ?? '?';
    if ((mode === 'cpr-transfer') === restart) throw new Error(`the VMs took ${mode}`);
    return {
      ms: Math.max(...bo.vms.map((v) => v.ms)),
      guestMs: Math.max(...stalls),
      idleGuestMs: Math.max(...idle),
      qemuMs: Math.max(...bo.vms.map((v) => v.qemuDowntimeMs ?? NaN)),
      mode,
    };
  } finally {
    h.cleanup();
  }
}

requireLocalQemus();
const rows: Array<{
  vms: number;
  idleGuest: number;
  cprGuest: number;
  restartGuest: number;
  cpr: number;
  restart: number;
  cprQemu: number;
  restartQemu: number;
}> = [];
for (const n of SIZES) {
  const cpr: Measured[] = [];
  const restart: Measured[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    restart.push(await update(n, true));
    cpr.push(await update(n, false));
  }
  const row = {
    vms: n,
    idleGuest: median([...cpr, ...restart].map((m) => m.idleGuestMs)),
    cprGuest: median(cpr.map((m) => m.guestMs)),
    restartGuest: median(restart.map((m) => m.guestMs)),
    cpr: median(cpr.map((m) => m.ms)),
    restart: median(restart.map((m) => m.ms)),
    cprQemu: median(cpr.map((m) => m.qemuMs)),
    restartQemu: median(restart.map((m) => m.qemuMs)),
  };
  rows.push(row);
  const f = (x: number): string => x.toFixed(1);
  console.log(
    `${n} VM${n > 1 ? 's' : ' '}  guest pause: cpr-transfer ${f(row.cprGuest)} ms, stop/save/restart (${restart[0]!.mode}) ${f(row.restartGuest)} ms` +
      ` (noise floor, no update: ${f(row.idleGuest)} ms)  |  orchestrator's blackout: ${f(row.cpr)} vs ${f(row.restart)} ms  |  QEMU downtime: ${row.cprQemu} vs ${row.restartQemu} ms` +
      `  (rounds, guest pause: ${cpr.map((m) => f(m.guestMs)).join('/')} vs ${restart.map((m) => f(m.guestMs)).join('/')})`,
  );
}
const figures: Record<string, unknown> = {};
for (const r of rows) figures[`ratio_guest_pause_cpr_over_restart_${r.vms}vm`] = +(r.cprGuest / r.restartGuest).toFixed(3);
for (const r of rows) figures[`ratio_blackout_cpr_over_restart_${r.vms}vm`] = +(r.cpr / r.restart).toFixed(3);
for (const r of rows) {
  figures[`cpr_guest_pause_ms_${r.vms}vm`] = +r.cprGuest.toFixed(1);
  figures[`restart_guest_pause_ms_${r.vms}vm`] = +r.restartGuest.toFixed(1);
  figures[`idle_guest_stall_ms_${r.vms}vm`] = +r.idleGuest.toFixed(1);
  figures[`cpr_ms_${r.vms}vm`] = +r.cpr.toFixed(1);
  figures[`restart_ms_${r.vms}vm`] = +r.restart.toFixed(1);
  figures[`cpr_qemu_downtime_ms_${r.vms}vm`] = r.cprQemu;
  figures[`restart_qemu_downtime_ms_${r.vms}vm`] = r.restartQemu;
}
figures['qemu'] = '10.0.2 -> 11.1.3';
figures['rounds'] = ROUNDS;
figures['targets'] = { guest_pause_cpr_over_restart_max: 0.5 };
console.log(JSON.stringify({ bench: 'cpr', ...figures }));

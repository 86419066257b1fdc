/**
 * bench:vm — VM blackout (stop -> cont) for suspend + restore of 1, 4 and 8 real QEMU VMs (TCG),
 * liveupdate's engine against bench/baseline-vm.sh (bash + socat) doing the same QMP steps, in the
 * same run on the same VMs. Prints a table, then one JSON line of the figures, ratios first.
 * Targets: ours <= 1.1x baseline; 8 VMs <= 1.5x the blackout of 1.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { runSteps } from '../src/exec/engine.js';
import { blackouts, type ExecEvent } from '../src/exec/events.js';
import { harness } from '../test/helpers/vm-harness.js';
import { ROOT } from '../test/helpers/paths.js';

const run = promisify(execFile);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const SIZES = (process.env['BENCH_VMS'] ?? '1,4,8').split(',').map(Number);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Host blackout for n VMs: the longest VM blackout (all VMs paused together). */
async function ours(n: number): Promise<number> {
  const h = await harness({ vms: n, prefix: 'bo', spin: true });
  try {
    const start = await runSteps(h.startSteps, h.env, () => undefined);
    if (!start.ok) throw new Error(start.failures[0]!.error.message);
    await sleep(500);
    const events: ExecEvent[] = [];
    const steps = [...h.suspendSteps, ...h.names.flatMap((vm) => h.restoreSteps(vm))];
    const r = await runSteps(steps, h.env, (e) => events.push(e));
    if (!r.ok) throw new Error(r.failures[0]!.error.message);
    return Math.max(...blackouts(events).map((b) => b.ms));
  } finally {
    await h.cleanup();
  }
}

async function baseline(n: number): Promise<number> {
  const h = await harness({ vms: n, prefix: 'bb', spin: true });
  try {
    const start = await runSteps(h.startSteps, h.env, () => undefined);
    if (!start.ok) throw new Error(start.failures[0]!.error.message);
    await h.env.qmp.closeAll();
    await sleep(500);
    const times = await Promise.all(
      h.ctx.vms.map(async (vm) => {
        const restart = h.restoreSteps(vm.spec.name).find((s) => s.kind === 'qemu-start');
        if (restart?.kind !== 'qemu-start') throw new Error('no restart step');
        const { stdout } = await run(join(ROOT, 'bench/baseline-vm.sh'), [vm.spec.qmp, vm.stateFile, ...restart.argv]);
        return Number(stdout.trim());
      }),
    );
    return Math.max(...times);
  } finally {
    await h.cleanup();
  }
}

const rows: Array<{ vms: number; ours: number; baseline: number }> = [];
for (const n of SIZES) {
  const o: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // alternate so drift on the machine hits both alike
    b.push(await baseline(n));
    o.push(await ours(n));
  }
  rows.push({ vms: n, ours: median(o), baseline: median(b) });
  console.log(
    `${n} VM${n > 1 ? 's' : ' '}  ours ${median(o).toFixed(1)} ms  baseline ${median(b).toFixed(1)} ms  (rounds: ours ${o.map((x) => x.toFixed(0)).join('/')}, baseline ${b.join('/')})`,
  );
}

const figures: Record<string, unknown> = {};
for (const r of rows) figures[`ratio_ours_over_baseline_${r.vms}vm`] = +(r.ours / r.baseline).toFixed(3);
const one = rows.find((r) => r.vms === 1);
const eight = rows.find((r) => r.vms === 8);
if (one && eight) {
  figures['ratio_8vm_over_1vm'] = +(eight.ours / one.ours).toFixed(3);
  // the same scaling for the baseline: what the machine (2 cores, TCG) imposes on anyone
  figures['baseline_ratio_8vm_over_1vm'] = +(eight.baseline / one.baseline).toFixed(3);
}
for (const r of rows) {
  figures[`ours_ms_${r.vms}vm`] = +r.ours.toFixed(1);
  figures[`baseline_ms_${r.vms}vm`] = r.baseline;
}
figures['rounds'] = ROUNDS;
figures['targets'] = { ours_over_baseline_max: 1.1, vm8_over_vm1_max: 1.5 };
console.log(JSON.stringify({ bench: 'vm', ...figures }));

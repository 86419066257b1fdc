/**
 * bench:lab — a full live update of the lab host over SSH (real kexec of a Debian kernel, nested VM
 * with RAM in pmem) by `liveupdate run`, then the same update by bench/baseline-lab.sh (OpenSSH
 * with a master connection, socat, no checks) on the same lab host, in the same run.
 * The blackout is split into: orchestrator time inside the window, QEMU save, kexec to sshd up,
 * QEMU restore. Ends with one JSON line, ratios first.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { blackoutBreakdown, type ExecEvent } from '../src/exec/events.js';
import type { Plan } from '../src/plan/types.js';
import { ROOT } from '../test/helpers/paths.js';
import { bootLab, ensureLabImage } from '../src/lab/lab.js';

const run = promisify(execFile);

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

await ensureLabImage();
const lab = await bootLab('bench');
try {
  const common = ['--host', lab.target, '--identity', lab.identity, '--known-hosts', lab.knownHosts, '--profile', join(ROOT, 'profiles/lab.yaml')];
  const journalDir = mkdtempSync('/var/tmp/lu-bench-lab-');
  const r = await cli(['run', ...common, '--journal-dir', journalDir, '--json']);
  if (r.code !== 0) throw new Error(`liveupdate run failed:\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string })
    .filter((e): e is ExecEvent => e.type.startsWith('step-'));
  const b = blackoutBreakdown(events, 'counter');
  if (!b) throw new Error('the run did not record every blackout step');
  const ours = { window_ms: b.windowMs, qemu_save_ms: b.qemuSaveMs, kexec_to_sshd_ms: b.kexecMs, qemu_restore_ms: b.qemuRestoreMs, orchestrator_ms: b.orchestratorMs };
  console.log(`liveupdate run: blackout ${ours.window_ms.toFixed(0)} ms = orchestrator ${ours.orchestrator_ms.toFixed(0)} + QEMU save ${ours.qemu_save_ms.toFixed(0)} + kexec to sshd ${ours.kexec_to_sshd_ms.toFixed(0)} + QEMU restore ${ours.qemu_restore_ms.toFixed(0)}`);

  // the baseline updates the same lab host again, from the boot liveupdate left it on
  await sleep(3000);
  const p = await cli(['plan', ...common, '--phase', 'resume', '--json']);
  const plan = JSON.parse(p.stdout) as Plan;
  const restart = plan.steps.find((s) => s.kind === 'qemu-start');
  if (restart?.kind !== 'qemu-start') throw new Error('no restart step in the plan');
  const argv = restart.argv.slice(0, restart.argv.indexOf('-S'));
  const { stdout } = await run(join(ROOT, 'bench/baseline-lab.sh'), [String(lab.port), lab.identity, lab.knownHosts, ...argv], { timeout: 600_000 });
  const baseline = Number(stdout.trim().split('\n').pop());
  console.log(`baseline script: blackout ${baseline} ms`);

  console.log(
    JSON.stringify({
      bench: 'lab',
      ratio_ours_over_baseline: +(ours.window_ms / baseline).toFixed(3),
      orchestrator_share: +(ours.orchestrator_ms / ours.window_ms).toFixed(3),
      ...Object.fromEntries(Object.entries(ours).map(([k, v]) => [k, Math.round(v)])),
      baseline_window_ms: baseline,
    }),
  );
} finally {
  await lab.stop();
}

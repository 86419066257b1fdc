/**
 * bench:lab — a full live update of the lab host over SSH (real kexec of a Debian kernel, nested VM
 * with RAM in pmem) by `liveupdate run`, then the same update by bench/baseline-lab.sh (OpenSSH
 * with a master connection, socat, no checks) on a second, freshly booted and prepared lab host.
 * The blackout is split into: QEMU save, kexec to restore start (of which: kexec until the new boot
 * is proven, then the host's work before the restore: mounts, the state's check), QEMU restore, and
 * the orchestrator's rest (its steps and the gaps between them before the jump and after the restore). Then the same `liveupdate run` on a LUO lab host (the LUO lab kernel, guest RAM in a
 * preserved memfd), split the same way, beside it. Then `liveupdate run --agent` on a fourth lab host:
 * the on-host agent runs every step, the lab init's boot-time resume finishes the run before sshd
 * starts; its split comes from the host's own journal, and the console marks say when the agent
 * started at boot and when sshd did. Then the same `liveupdate run` on a pkernfs lab host (the 2024
 * RFC kernel, guest RAM in pkernfs files). For each run, what the guest RAM guard costs inside the
 * blackout: the fingerprint before the kexec and its check after, per GiB of guest RAM (the helper's
 * own time, and the step's, which adds the round trip). Ends with one JSON line, ratios first.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { blackoutBreakdown, type ExecEvent } from '../src/exec/events.js';
import type { Plan } from '../src/plan/types.js';
import { ROOT } from '../test/helpers/paths.js';
import { runCli } from '../test/helpers/run-cli.js';
import { bootLab, ensureLabImage, ensureLabKernel, LAB_LUO_PROFILE, LAB_PKERNFS_PROFILE, type LabHost } from '../src/lab/lab.js';
import { tempDir } from '../test/helpers/temp.js';

const run = promisify(execFile);

const cli = runCli;

interface Figures {
  window_ms: number;
  qemu_save_ms: number;
  kexec_to_restore_ms: number;
  /** over SSH: until the control node got back in; through the agent: until the agent at boot proved the new boot */
  kexec_to_boot_proven_ms: number;
  boot_to_restore_ms: number;
  qemu_restore_ms: number;
  orchestrator_ms: number;
}

/** prepare, let the guest count, then `liveupdate run --json` on a lab host; the blackout's parts. */
async function measure(
  lab: LabHost,
  profile: string,
  via: 'ssh' | 'agent' = 'ssh',
): Promise<Figures & { events: ExecEvent[]; guard: Record<string, number> }> {
  const common = [
    '--host',
    lab.target,
    '--identity',
    lab.identity,
    '--known-hosts',
    lab.knownHosts,
    '--profile',
    profile,
    '--journal-dir',
    tempDir('/var/tmp/lu-bench-lab-'),
    '--via',
    via,
  ];
  const prep = await cli(['prepare', ...common]);
  if (prep.code !== 0) throw new Error(`liveupdate prepare failed:\n${prep.stderr}\n${prep.stdout.slice(-3000)}`);
  await sleep(3000);
  const r = await cli(['run', ...common, '--yes', '--force', '--json']);
  if (r.code !== 0) throw new Error(`liveupdate run failed:\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string })
    .filter((e): e is ExecEvent => e.type.startsWith('step-'));
  const b = blackoutBreakdown(events, 'counter');
  if (!b) throw new Error('the run did not record every blackout step');
  const f: Figures = {
    window_ms: b.windowMs,
    qemu_save_ms: b.qemuSaveMs,
    kexec_to_restore_ms: b.kexecToRestoreMs,
    kexec_to_boot_proven_ms: b.kexecMs,
    boot_to_restore_ms: b.bootToRestoreMs,
    qemu_restore_ms: b.qemuRestoreMs,
    orchestrator_ms: b.orchestratorMs,
  };
  const ms = (n: number): string => n.toFixed(0);
  const g = guardCost(events, memoryOf(profile));
  console.log(
    `  RAM guard: fingerprint ${g.record_step_ms} ms + check ${g.check_step_ms} ms of steps; the helper's own ${g.record_us_per_gib} + ${g.check_us_per_gib} us per GiB`,
  );
  console.log(
    `liveupdate run --via ${via} (${profile.split('/').pop()}): blackout ${ms(f.window_ms)} ms = QEMU save ${ms(f.qemu_save_ms)} + kexec to restore start ${ms(f.kexec_to_restore_ms)} ` +
      `(boot proven after ${ms(f.kexec_to_boot_proven_ms)}, then ${ms(f.boot_to_restore_ms)} of mounts and checks) + QEMU restore ${ms(f.qemu_restore_ms)} + orchestrator ${ms(f.orchestrator_ms)}`,
  );
  return { ...f, events, guard: g };
}

/** The counter VM's guest RAM in bytes, from the profile (every lab profile has it). */
function memoryOf(profile: string): number {
  const m = /- name: counter\n\s+memory: (\d+)M/.exec(readFileSync(profile, 'utf8'));
  if (!m) throw new Error(`${profile}: no counter VM with its memory in M`);
  return Number(m[1]) * 2 ** 20;
}

/** What the RAM guard cost the counter VM's blackout: its two steps, and the helper's own time scaled to a GiB. */
function guardCost(events: ExecEvent[], bytes: number): Record<string, number> {
  const end = (id: string): Extract<ExecEvent, { type: 'step-end' }> => {
    const e = events.find((x): x is Extract<ExecEvent, { type: 'step-end' }> => x.type === 'step-end' && x.id === id && x.result === 'ok');
    if (!e) throw new Error(`no ${id} in the run`);
    return e;
  };
  const us = (e: Extract<ExecEvent, { type: 'step-end' }>): number =>
    (e.outcome?.['results'] as Array<{ microseconds: number }>)[0]!.microseconds;
  const rec = end('suspend/fingerprint-ram/counter');
  const chk = end('resume/verify-ram/counter');
  const perGib = 2 ** 30 / bytes;
  return {
    record_step_ms: Math.round(rec.ms),
    check_step_ms: Math.round(chk.ms),
    record_us_per_gib: Math.round(us(rec) * perGib),
    check_us_per_gib: Math.round(us(chk) * perGib),
  };
}

/** The agent's run: the host's clock throughout (its journal, its console marks). */
async function measureAgent(lab: LabHost): Promise<Record<string, number>> {
  const f = await measure(lab, join(ROOT, 'profiles/lab.yaml'), 'agent');
  const serial = lab.serialText();
  const mark = (re: RegExp): number => Number([...serial.matchAll(re)].pop()?.[1] ?? NaN);
  const agentStart = mark(/LAB-MARK agent-boot-start uptime=\S+ epoch-ms=(\d+)/g);
  const sshd = mark(/LAB-MARK sshd-started epoch-ms=(\d+)/g);
  const jump = f.events.find((e) => e.type === 'step-start' && e.marks?.pointOfNoReturn)?.at ?? NaN;
  const cont = f.events.find((e) => e.type === 'step-end' && e.vm === 'counter' && e.phase === 'resume' && e.marks?.blackoutEnd)?.at ?? NaN;
  // the boot-time agent's first step: the boot's proof (the agent on the old kernel started one too, just before the jump)
  const firstStep = f.events.filter((e) => e.type === 'step-start' && e.marks?.provesBoot).pop()?.at ?? NaN;
  console.log(
    `  at boot: kernel and init ${(agentStart - jump).toFixed(0)} ms, the agent's own start (process start to its first step) ${(firstStep - agentStart).toFixed(0)} ms, ` +
      `agent start to VM running ${(cont - agentStart).toFixed(0)} ms; VM running ${(sshd - cont).toFixed(0)} ms before sshd started (host clock: cont ${new Date(cont).toISOString()}, sshd ${new Date(sshd).toISOString()})`,
  );
  return {
    ...round(f, 'agent_'),
    agent_kexec_to_agent_start_ms: Math.round(agentStart - jump),
    agent_own_start_ms: Math.round(firstStep - agentStart),
    agent_start_to_running_ms: Math.round(cont - agentStart),
    agent_running_before_sshd_ms: Math.round(sshd - cont),
  };
}

const FIGURES = [
  'window_ms',
  'qemu_save_ms',
  'kexec_to_restore_ms',
  'kexec_to_boot_proven_ms',
  'boot_to_restore_ms',
  'qemu_restore_ms',
  'orchestrator_ms',
] as const;
const round = (f: Figures, prefix = ''): Record<string, number> =>
  Object.fromEntries(FIGURES.map((k) => [`${prefix}${k}`, Math.round(f[k])]));

/** The same run on a lab host booted with a lab kernel (built by npm run lab:build the first time, cached after). */
async function onLabKernel(kernel: 'luo' | 'pkernfs', profile: string): Promise<Awaited<ReturnType<typeof measure>>> {
  await ensureLabKernel(kernel);
  await ensureLabImage(undefined, kernel);
  const host = await bootLab(`bench-${kernel}`, { kernel });
  try {
    return await measure(host, profile);
  } finally {
    await host.stop();
  }
}

await ensureLabImage();
// the pkernfs RFC on 6.1, then the LUO lab kernel (Linux 7.2)
const pkernfs = await onLabKernel('pkernfs', LAB_PKERNFS_PROFILE);
const luo = await onLabKernel('luo', LAB_LUO_PROFILE);
const lab = await bootLab('bench');
let ours: Figures & { guard: Record<string, number> };
try {
  ours = await measure(lab, join(ROOT, 'profiles/lab.yaml'));
} finally {
  await lab.stop();
}
const agentLab = await bootLab('bench-agent');
let agent: Record<string, number>;
try {
  agent = await measureAgent(agentLab);
} finally {
  await agentLab.stop();
}
// the baseline gets a freshly booted, prepared lab host of its own: a second kexec of the same lab
// host boots faster than the first, which would flatter whichever side went second
const base = await bootLab('bench-base');
try {
  const common = [
    '--host',
    base.target,
    '--identity',
    base.identity,
    '--known-hosts',
    base.knownHosts,
    '--profile',
    join(ROOT, 'profiles/lab.yaml'),
  ];
  const prep = await cli(['prepare', ...common, '--via', 'ssh', '--journal-dir', tempDir('/var/tmp/lu-bench-lab-')]);
  if (prep.code !== 0) throw new Error(`liveupdate prepare (for the baseline) failed:\n${prep.stderr}`);
  await sleep(3000);
  const p = await cli(['plan', ...common, '--phase', 'resume', '--json']);
  const plan = JSON.parse(p.stdout) as Plan;
  const restart = plan.steps.find((s) => s.kind === 'qemu-start');
  if (restart?.kind !== 'qemu-start') throw new Error('no restart step in the plan');
  const argv = restart.argv.slice(0, restart.argv.indexOf('-S'));
  const { stdout } = await run(join(ROOT, 'bench/baseline-lab.sh'), [String(base.port), base.identity, base.knownHosts, ...argv], {
    timeout: 600_000,
  });
  const baseline = Number(stdout.trim().split('\n').pop());
  console.log(`baseline script: blackout ${baseline} ms`);

  console.log(
    JSON.stringify({
      bench: 'lab',
      ratio_ours_over_baseline: +(ours.window_ms / baseline).toFixed(3),
      ratio_agent_over_baseline: +(agent['agent_window_ms']! / baseline).toFixed(3),
      orchestrator_share: +(ours.orchestrator_ms / ours.window_ms).toFixed(3),
      agent_orchestrator_share: +(agent['agent_orchestrator_ms']! / agent['agent_window_ms']!).toFixed(3),
      // the agent's start at boot is inside "kexec to restore start"; with it counted as the orchestrator's own
      agent_orchestrator_and_start_share: +(
        (agent['agent_orchestrator_ms']! + agent['agent_own_start_ms']!) /
        agent['agent_window_ms']!
      ).toFixed(3),
      luo_over_pmem_window: +(luo.window_ms / ours.window_ms).toFixed(3),
      pkernfs_over_pmem_window: +(pkernfs.window_ms / ours.window_ms).toFixed(3),
      guard_share_of_window: +((ours.guard['record_step_ms']! + ours.guard['check_step_ms']!) / ours.window_ms).toFixed(4),
      ...round(ours),
      baseline_window_ms: baseline,
      ...round(luo, 'luo_'),
      ...round(pkernfs, 'pkernfs_'),
      ...Object.fromEntries(Object.entries(ours.guard).map(([k, v]) => [`guard_${k}`, v])),
      ...Object.fromEntries(Object.entries(pkernfs.guard).map(([k, v]) => [`pkernfs_guard_${k}`, v])),
      ...agent,
    }),
  );
} finally {
  await base.stop();
}

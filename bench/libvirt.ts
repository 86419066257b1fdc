/**
 * bench:libvirt — what the copy path costs. The same guest (the counter guest, its RAM filled with a
 * pattern at boot: counter-img.py --fill) at two RAM sizes, its blackout (stop to running again) in a
 * VMM-only `liveupdate run` on this machine, two ways in the same run:
 *   copy:     a libvirt domain (real libvirtd, Debian 12's 9.0): virsh save writes RAM and device
 *             state into an image on the carve-out, virsh restore reads it back;
 *   in place: the same guest as liveupdate's own VM, its RAM a file on the carve-out, saved with
 *             x-ignore-shared (device state only), restarted on the same RAM.
 * Real QEMU 7.2 (TCG) both ways; the one double is the facts edit (a loop-mounted ext4 reported as
 * an active pmem carve-out, test/helpers/local-qemu.ts). A kernel update adds the same kexec and boot
 * to both; the lab's libvirt test (test/lab/libvirt.test.ts) measures that whole window once.
 * BENCH_LIBVIRT_MIB (default 64,512) the sizes, BENCH_ROUNDS (default 3) rounds of each, medians.
 * Ends with one JSON line, ratios first.
 */
import { blackouts, type ExecEvent } from '../src/exec/events.js';
import { cliHost, prepare } from '../test/helpers/cli-host.js';
import { ensureLibvirtd, stopLibvirtdIfStarted, withDomainHost } from '../test/helpers/libvirt-host.js';
import { setTimeout as sleep } from 'node:timers/promises';

const SIZES = (process.env['BENCH_LIBVIRT_MIB'] ?? '64,512').split(',').map(Number);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
/** what the guest leaves unfilled: the BIOS's tables at the top of RAM, its first MiB */
const fillOf = (mib: number): number => mib - 8;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The one VM's blackout from a `run --json`'s NDJSON; throws with the run's words when it failed. */
function blackoutOf(r: { status?: number | null; code?: number | null; stdout: string; stderr: string }): number {
  const code = r.status ?? r.code;
  if (code !== 0) throw new Error(`the run failed (exit ${code}): ${r.stderr.trim() || r.stdout.trim().split('\n').at(-1)}`);
  const events = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as ExecEvent)
    .filter((e) => e.type === 'step-start' || e.type === 'step-end' || e.type === 'step-failed');
  const b = blackouts(events);
  if (b.length !== 1) throw new Error(`expected one VM's blackout, got ${JSON.stringify(b)}`);
  return b[0]!.ms;
}

async function copy(mib: number): Promise<{ ms: number; imageBytes: number }> {
  let out = { ms: NaN, imageBytes: NaN };
  await withDomainHost({ memory: String(mib), fillMiB: fillOf(mib) }, async (h) => {
    // the guest counts once its fill is done
    for (let i = 0; h.counter() === 0n; i++) {
      if (i > 600) throw new Error(`the guest of ${mib} MiB did not start counting within 60 s`);
      await sleep(100);
    }
    const ms = blackoutOf(h.cli(['run', '--phase', 'update', '--vmm-only', '--yes', '--json', '--profile', h.profile, '--facts', h.facts]));
    const saved = h.journal().find((x) => x.type === 'step-end' && x.id === `suspend/fingerprint-save/${h.name}`);
    const bytes =
      saved?.type === 'step-end' ? (saved.outcome?.['results'] as Array<{ bytes?: number }> | undefined)?.[0]?.bytes : undefined;
    out = { ms, imageBytes: bytes ?? NaN };
  });
  return out;
}

async function inPlace(mib: number): Promise<number> {
  const h = await cliHost({ vms: 1, memoryMiB: mib, fillMiB: fillOf(mib), migrationMode: 'x-ignore-shared' });
  try {
    await prepare(h);
    for (let i = 0; h.counterInRamFile(h.names[0]!) === 0n; i++) {
      if (i > 600) throw new Error(`the guest of ${mib} MiB did not start counting within 60 s`);
      await sleep(100);
    }
    await h.refreshFacts();
    return blackoutOf(
      await h.cli(['run', '--phase', 'update', '--vmm-only', '--yes', '--json', '--profile', h.profile, '--facts', h.facts]),
    );
  } finally {
    h.cleanup();
  }
}

await ensureLibvirtd();
const rows: Array<{ mib: number; copy: number; inPlace: number; imageBytes: number }> = [];
try {
  for (const mib of SIZES) {
    const c: number[] = [];
    const p: number[] = [];
    let imageBytes = NaN;
    for (let r = 0; r < ROUNDS; r++) {
      // alternated, so drift on the machine hits both alike
      const one = await copy(mib);
      c.push(one.ms);
      imageBytes = one.imageBytes;
      p.push(await inPlace(mib));
    }
    rows.push({ mib, copy: median(c), inPlace: median(p), imageBytes });
    console.log(
      `${mib} MiB (${fillOf(mib)} filled)  copy ${median(c).toFixed(0)} ms (save image ${(imageBytes / 2 ** 20).toFixed(1)} MiB)  in place ${median(p).toFixed(0)} ms  (rounds: copy ${c.map((x) => x.toFixed(0)).join('/')}, in place ${p.map((x) => x.toFixed(0)).join('/')})`,
    );
  }
} finally {
  stopLibvirtdIfStarted();
}

const figures: Record<string, number> = {};
const [small, large] = [rows[0]!, rows.at(-1)!];
if (rows.length > 1) {
  figures[`ratio_copy_${large.mib}_over_${small.mib}`] = +(large.copy / small.copy).toFixed(3);
  figures[`ratio_in_place_${large.mib}_over_${small.mib}`] = +(large.inPlace / small.inPlace).toFixed(3);
}
for (const r of rows) figures[`ratio_copy_over_in_place_${r.mib}`] = +(r.copy / r.inPlace).toFixed(3);
for (const r of rows) {
  figures[`copy_${r.mib}_ms`] = +r.copy.toFixed(1);
  figures[`in_place_${r.mib}_ms`] = +r.inPlace.toFixed(1);
  figures[`copy_${r.mib}_image_mib`] = +(r.imageBytes / 2 ** 20).toFixed(1);
}
console.log(JSON.stringify(figures));

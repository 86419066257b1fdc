// The lab: a real Debian kernel kexec'd over SSH under a nested VM whose RAM is in legacy pmem.
// Everything is real: QEMU lab host (TCG), dropbear, kexec-tools, ndctl, ext4 -o dax, nested QEMU.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SshHost, parseTarget } from '../../src/host/ssh.js';
import { QmpClient } from '../../src/qemu/qmp.js';
import type { JournalRecord } from '../../src/exec/journal.js';
import { ROOT } from '../helpers/paths.js';
import { bootLab, ensureLabImage, type LabHost } from '../../src/lab/lab.js';
import { readCounter } from '../../src/lab/counter.js';

let lab: LabHost;
let ssh: SshHost;
const journalDir = mkdtempSync('/var/tmp/lu-lab-journal-');

before(async () => {
  await ensureLabImage();
  lab = await bootLab('e2e');
  ssh = new SshHost(parseTarget(lab.target), { identity: lab.identity, knownHosts: lab.knownHosts });
}, { timeout: 600_000 });

after(async () => {
  await ssh?.close();
  await lab?.stop();
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // only the commands that run steps keep a journal
    const journal = ['prepare', 'suspend', 'kexec', 'resume', 'run', 'abort', 'status'].includes(args[0]!) ? ['--journal-dir', journalDir] : [];
    const child = spawn(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args, '--host', lab.target, '--identity', lab.identity, '--known-hosts', lab.knownHosts, ...journal], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (process.env['LAB_VERBOSE']) process.stderr.write(d);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function remote(argv: string[]): Promise<string> {
  const r = await ssh.exec(argv, { timeoutMs: 60_000 });
  assert.equal(r.exitCode, 0, `${argv.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

async function liveCounter(): Promise<{ status: string; value: bigint }> {
  const c = await QmpClient.over(await ssh.connectUnix('/run/liveupdate/counter.qmp'), 'lab-counter', 30_000);
  try {
    return await readCounter(c);
  } finally {
    await c.close();
  }
}

test('VFIO: the e1000e is in an IOMMU group, and the plan says why this QEMU cannot keep it across the update', { timeout: 300_000 }, async () => {
  const facts = await cli(['facts', '--profile', join(ROOT, 'profiles/lab-vfio.yaml'), '--json']);
  assert.equal(facts.code, 0, facts.stderr);
  const f = JSON.parse(facts.stdout) as { pci: Array<{ address: string; device: string; iommuGroup?: number }>; qemu: Array<{ version?: string }> };
  const nic = f.pci.find((d) => d.address === '0000:00:03.0');
  assert.equal(nic?.device, '10d3');
  assert.equal(typeof nic?.iommuGroup, 'number', 'intel-iommu put the NIC in a group');
  const plan = await cli(['plan', '--profile', join(ROOT, 'profiles/lab-vfio.yaml')]);
  assert.equal(plan.code, 1);
  assert.match(plan.stderr, new RegExp(`lab-vfio.yaml:[0-9]+:[0-9]+: vms\\[0\\]\\.vfio: QEMU ${f.qemu[0]!.version!.replace(/\./g, '\\.')} cannot save a VM with a passed-through device: vfio-pci blocks migration`));
});

test('liveupdate run over SSH: kexec into a new boot; the nested VM keeps its RAM in pmem and continues', { timeout: 1_200_000 }, async () => {
  const profile = join(ROOT, 'profiles/lab.yaml');
  const bootBefore = await remote(['cat', '/proc/sys/kernel/random/boot_id']);

  // prepare on its own first, so the guest counts long enough that a restart from zero could not catch up
  const prep = await cli(['prepare', '--profile', profile]);
  assert.equal(prep.code, 0, prep.stderr + prep.stdout);
  await sleep(12_000);
  const beforeRun = await liveCounter();
  assert.equal(beforeRun.status, 'running');
  assert.ok(beforeRun.value > 0n);

  const run = await cli(['run', '--profile', profile]);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  ssh.reset();
  const bootAfter = await remote(['cat', '/proc/sys/kernel/random/boot_id']);
  assert.notEqual(bootAfter, bootBefore, 'a new boot');
  assert.match(await remote(['cat', '/proc/cmdline']), /memmap=256M!1G/);

  const after1 = await liveCounter();
  assert.equal(after1.status, 'running');
  // the boot sector zeroes the count when it starts: only a VM that continued is past its pre-run value
  assert.ok(after1.value > beforeRun.value, `continued: ${beforeRun.value} before the run, ${after1.value} after`);
  await sleep(2000);
  assert.ok((await liveCounter()).value > after1.value, 'still counting');

  const recs = readdirSync(journalDir).filter((f) => f.endsWith('.journal')).flatMap((f) => readFileSync(join(journalDir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as JournalRecord));
  for (const id of ['prepare/start/counter', 'suspend/kexec-load', 'suspend/stop/counter', 'suspend/save/counter', 'kexec/umount', 'kexec/kexec-exec', 'kexec/verify-boot', 'resume/mount-dax', 'resume/load/counter', 'resume/cont/counter']) {
    assert.ok(recs.some((r) => r.t === 'end' && r.id === id), `${id} recorded`);
  }
  assert.ok(recs.some((r) => r.t === 'phase' && r.plan !== undefined), 'the plan is in the journal');
  const verify = recs.find((r) => r.t === 'end' && r.id === 'kexec/verify-boot');
  assert.ok(verify?.t === 'end' && verify.outcome?.['bootId'] === bootAfter && verify.outcome['previousBootId'] === bootBefore);
  const bo = recs.find((r) => r.t === 'blackout');
  assert.ok(bo?.t === 'blackout' && bo.vms[0]?.vm === 'counter' && bo.vms[0].ms > 0);
  assert.match(run.stdout, /blackout counter: [0-9]+ ms/);
});

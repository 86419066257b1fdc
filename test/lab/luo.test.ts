// The LUO lab: the LUO lab kernel (Linux 7.2 from Debian's linux-source-7.2, KHO + LUO + iommufd)
// booted under QEMU TCG, updated by `liveupdate run` with profiles/lab-luo.yaml, over SSH and (the
// second update) through the on-host agent. The nested
// VM's RAM is a memfd the helper holds and preserves in a LUO session across a real kexec.
// Everything is real; nothing is simulated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '../../src/qemu/qmp.js';
import type { JournalRecord } from '../../src/exec/journal.js';
import { LAB_LUO_PROFILE, LAB_QEMU10, LAB_QEMU11 } from '../../src/lab/lab.js';
import { counterOn } from '../../src/lab/counter.js';
import { mustRun, outcomeOf, startedQemu, qemuOn } from '../helpers/remote.js';
import { HelperError, holderRequest, runHelper } from '../../src/native/helper.js';
import { journalRecords, useLab, labHostFlags } from '../helpers/lab.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp.js';

const journalDir = tempDir('/var/tmp/lu-luo-journal-');

const fx = useLab('luo', { kernel: 'luo', qemus: true });

// step by step over SSH (--via ssh) unless a test asks for the on-host agent, the default with --host
function cli(args: string[], profile = LAB_LUO_PROFILE): Promise<CliResult> {
  return runCli([
    ...args,
    ...(args.includes('--agent') ? [] : ['--via', 'ssh']),
    '--profile',
    profile,
    ...labHostFlags(fx),
    '--journal-dir',
    journalDir,
  ]);
}

const remote = (argv: string[]): Promise<string> => mustRun(fx.ssh, argv);
const counter = (): Promise<{ status: string; value: bigint }> => counterOn(fx.ssh);

const records = (): JournalRecord[] => journalRecords(journalDir);

/** lab-luo.yaml whose VM is restored by another QEMU (the one it runs on is found by the facts) */
function restoredBy(binary: string): string {
  const file = join(tempDir('/var/tmp/lu-luo-profile-'), 'lab-luo.yaml');
  const text = readFileSync(LAB_LUO_PROFILE, 'utf8').replace(
    /^( +)binary: \/usr\/bin\/qemu-system-x86_64\n/m,
    (line, indent: string) => `${line}${indent}restoreBinary: ${binary}\n`,
  );
  assert.match(text, /restoreBinary/);
  writeFileSync(file, text);
  return file;
}

test('LUO kernel: /dev/liveupdate, iommufd and the VFIO cdev are there', { timeout: 120_000 }, async () => {
  assert.match(await remote(['uname', '-r']), /^7\.2\./);
  assert.match(await remote(['cat', '/proc/cmdline']), /kho=on liveupdate=on/);
  const p = await runHelper(fx.ssh, { op: 'probe' });
  const r = p.results[0] as unknown as { liveupdate: { present: boolean }; iommufd: { present: boolean }; kexec: { fileLoad: string } };
  assert.deepEqual([r.liveupdate.present, r.iommufd.present, r.kexec.fileLoad], [true, true, 'supported']);
});

test('iommufd for real: IOAS alloc and map, VFIO cdev bind and attach, HWPT alloc, hitless replace', { timeout: 120_000 }, async () => {
  const nic = '0000:00:03.0';
  await remote([
    'sh',
    '-c',
    `echo vfio-pci > /sys/bus/pci/devices/${nic}/driver_override; echo ${nic} > /sys/bus/pci/devices/${nic}/driver/unbind 2>/dev/null; echo ${nic} > /sys/bus/pci/drivers_probe`,
  ]);
  assert.match(await remote(['readlink', `/sys/bus/pci/devices/${nic}/driver`]), /\/vfio-pci$/);
  const MiB = 1 << 20;
  const r = await runHelper(fx.ssh, {
    ops: [
      { op: 'iommufd.open', as: 'iommufd' },
      { op: 'iommufd.ioas.alloc', iommufd: 'iommufd', as: 'ioas1' },
      { op: 'iommufd.ioas.alloc', iommufd: 'iommufd', as: 'ioas2' },
      { op: 'vfio.cdev.open', device: nic, as: 'dev' },
      { op: 'vfio.cdev.bind', device: 'dev', iommufd: 'iommufd' },
      { op: 'vfio.cdev.attach', device: 'dev', pt: 'ioas1' },
      { op: 'buffer.alloc', size: MiB, as: 'buf' },
      { op: 'iommufd.ioas.map', ioas: 'ioas1', buffer: 'buf', iova: MiB },
      { op: 'iommufd.ioas.map', ioas: 'ioas2', buffer: 'buf', iova: MiB },
      { op: 'memfd.create', name: 'guest', size: 2 * MiB, as: 'ram' },
      { op: 'iommufd.ioas.map_file', ioas: 'ioas2', file: 'ram', size: 2 * MiB, iova: 4 * MiB },
      { op: 'iommufd.hwpt.alloc', device: 'dev', pt: 'ioas2', as: 'hwpt' },
      // the device moves to another page table without passing through "no translation"
      { op: 'vfio.cdev.replace', device: 'dev', pt: 'hwpt' },
      { op: 'vfio.cdev.replace', device: 'dev', pt: 'ioas1' },
      { op: 'iommufd.ioas.unmap', ioas: 'ioas1', iova: MiB, size: MiB },
      { op: 'vfio.cdev.detach', device: 'dev' },
    ],
  });
  const by = (i: number): Record<string, unknown> => r.results[i]!;
  assert.equal(r.results.length, 16);
  assert.match(String(by(3)['cdev']), /^\/dev\/vfio\/devices\/vfio[0-9]+$/);
  assert.equal(typeof by(4)['devid'], 'number');
  assert.equal(by(4)['pci'], true);
  assert.equal(by(7)['iova'], MiB);
  assert.deepEqual(by(10), { op: 'iommufd.ioas.map_file', iova: 4 * MiB, size: 2 * MiB });
  assert.equal(by(12)['replaced'], true);
  assert.equal(by(14)['unmapped'], MiB);
});

test(
  'QEMU 10 (bookworm-backports) takes the iommufd and the VFIO cdev fds from the helper: the nested VM has the e1000e',
  { timeout: 300_000 },
  async () => {
    // the iommufd test above left the NIC bound to vfio-pci
    const nic = '0000:00:03.0';
    assert.match(await remote(['readlink', `/sys/bus/pci/devices/${nic}/driver`]), /\/vfio-pci$/);
    assert.match(await remote([LAB_QEMU10, '--version']), /^QEMU emulator version 10\./);
    const qmpPath = '/run/lu-q10.qmp';
    const pidfile = '/run/lu-q10.pid';
    // the helper opens /dev/iommu and the device's cdev, then becomes QEMU: the fds are inherited
    const r = await runHelper(fx.ssh, {
      ops: [
        { op: 'iommufd.open', as: 'iommufd' },
        { op: 'vfio.cdev.open', device: nic, as: 'dev' },
      ],
      then: {
        exec: [
          LAB_QEMU10,
          '-name',
          'lu-q10',
          '-nodefaults',
          '-display',
          'none',
          '-M',
          'pc',
          '-accel',
          'tcg',
          '-m',
          '64',
          '-object',
          'iommufd,id=iommufd0,fd={fd:iommufd}',
          '-device',
          'vfio-pci,id=nic0,iommufd=iommufd0,fd={fd:dev}',
          '-qmp',
          `unix:${qmpPath},server=on,wait=off`,
          '-pidfile',
          pidfile,
          '-daemonize',
          '-S',
        ],
      },
    });
    const [iommufdFd, devFd] = [r.results[0]!['fd'], r.results[1]!['fd']] as number[];
    const argv = (r.then as { exec: string[] }).exec;
    assert.ok(
      argv.includes(`iommufd,id=iommufd0,fd=${iommufdFd}`) && argv.includes(`vfio-pci,id=nic0,iommufd=iommufd0,fd=${devFd}`),
      argv.join(' '),
    );
    const c = await QmpClient.over(await fx.ssh.connectUnix(qmpPath), 'lu-q10', 30_000);
    try {
      // the guest sees the passed-through e1000e (8086:10d3) as nic0
      const buses = await c.execute<Array<{ devices: Array<{ qdev_id: string; id: { vendor: number; device: number } }> }>>('query-pci');
      const dev = buses.flatMap((b) => b.devices).find((d) => d.qdev_id === 'nic0');
      assert.deepEqual(dev?.id && [dev.id.vendor, dev.id.device], [0x8086, 0x10d3]);
      // QEMU uses the helper's fds and opened neither /dev/iommu nor the cdev itself
      const qpid = await remote(['cat', pidfile]);
      const fds = (await remote(['sh', '-c', 'for f in /proc/$1/fd/*; do echo "${f##*/} $(readlink "$f")"; done', 'sh', qpid])).split('\n');
      const devices = fds.filter((l) => /\/dev\/(iommu|vfio\/devices\/)/.test(l)).sort();
      assert.deepEqual(devices, [`${iommufdFd} /dev/iommu`, `${devFd} /dev/vfio/devices/vfio0`]);
    } finally {
      await c.execute('quit').catch(() => undefined);
      await c.close();
    }
  },
);

test('a busy /dev/liveupdate: prepare names who holds it and changes nothing else', { timeout: 300_000 }, async () => {
  // another agent (here: a helper daemon that keeps /dev/liveupdate open) holds the device
  const sock = '/run/other-agent.sock';
  const other = await runHelper(fx.ssh, { ops: [{ op: 'luo.open', as: 'luo' }], then: { hold: { socket: sock } } });
  const pid = other.then!.hold!.pid;
  try {
    const r = await cli(['prepare']);
    // stopped part-way (the state and VM folders made before it), no VM started
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(
      r.stdout + r.stderr,
      new RegExp(`/dev/liveupdate is busy: only one process may hold it .*; held by pid ${pid} \\(lu-helper`),
    );
    assert.equal((await fx.ssh.exec(['test', '-e', '/run/liveupdate/vms/counter/qmp.sock'])).exitCode, 1, 'no VM was started');
  } finally {
    await holderRequest(fx.ssh, sock, { op: 'exit' });
  }
  rmSync(journalDir, { recursive: true, force: true });
});

test('the holder killed before kexec: the run aborts before the point of no return and the VM runs on', { timeout: 600_000 }, async () => {
  assert.equal((await cli(['prepare'])).code, 0);
  await sleep(5000);
  const bootBefore = await remote(['cat', '/proc/sys/kernel/random/boot_id']);
  assert.equal((await cli(['suspend'])).code, 0);
  const st = await holderRequest(fx.ssh, '/run/liveupdate/luo-holder.sock', { op: 'status' });
  await remote(['kill', '-9', String(st['pid'])]);
  const k = await cli(['kexec', '--yes']);
  assert.equal(k.code, 1);
  assert.match(k.stdout + k.stderr, /kexec\/verify-luo-holder.*no helper answers on \/run\/liveupdate\/luo-holder\.sock/s);
  assert.equal(await remote(['cat', '/proc/sys/kernel/random/boot_id']), bootBefore, 'no kexec happened');
  assert.ok(!records().some((r) => r.type === 'step-start' && r.id === 'kexec/kexec-exec'), 'the point of no return was not passed');
  // the guard's failure aborted on its own: the old QEMU still mapped the RAM and continues
  assert.match(k.stdout, /aborted before the point of no return: every VM runs again on this kernel/);
  assert.ok(
    records().some((r) => r.type === 'step-end' && r.id === 'abort/cont-old/counter'),
    'the abort continued the old QEMU',
  );
  const a = await counter();
  assert.equal(a.status, 'running');
  await sleep(1500);
  assert.ok((await counter()).value > a.value, 'the VM runs on, on the old kernel, with its RAM');
  assert.equal(await remote(['cat', '/sys/kernel/kexec_loaded']), '0', 'the staged kernel was unloaded');
  // a fresh start for the next test: the VM's memfd now lives only in that QEMU
  const c = await QmpClient.over(await fx.ssh.connectUnix('/run/liveupdate/vms/counter/qmp.sock'), 'lab-counter', 30_000);
  await c.execute('quit').catch(() => undefined);
  await c.close();
  rmSync(journalDir, { recursive: true, force: true });
});

test(
  'liveupdate run on LUO, twice (over SSH, then through the on-host agent): the memfd survives each kexec in its session; handover proven from dmesg; the VM moves from QEMU 7.2 to 10.0, then to 11.1',
  { timeout: 1_200_000 },
  async () => {
    const bootBefore = await remote(['cat', '/proc/sys/kernel/random/boot_id']);
    // one profile for the whole first update (a run refuses another profile than the one it began with)
    const first = restoredBy(LAB_QEMU10);
    const prep = await cli(['prepare'], first);
    assert.equal(prep.code, 0, prep.stdout + prep.stderr);
    await sleep(12_000);
    const beforeRun = await counter();
    assert.equal(beforeRun.status, 'running');
    assert.deepEqual(await qemuOn(fx.ssh), { version: '7.2.22', machine: 'pc-i440fx-7.2' }, "Debian 12's QEMU started it on its own 'pc'");
    const run = await cli(['run', '--yes', '--force'], first);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    fx.ssh.reset();
    const bootAfter = await remote(['cat', '/proc/sys/kernel/random/boot_id']);
    assert.notEqual(bootAfter, bootBefore, 'a new boot');
    const after1 = await counter();
    assert.equal(after1.status, 'running');
    assert.ok(after1.value > beforeRun.value, `continued: ${beforeRun.value} before the run, ${after1.value} after`);
    await sleep(2000);
    assert.ok((await counter()).value > after1.value, 'still counting');

    assert.deepEqual(await qemuOn(fx.ssh), { version: '10.0.2', machine: 'pc-i440fx-7.2' }, 'QEMU 10.0 runs it now, on the type it ran');
    const recs = records();
    assert.deepEqual(
      outcomeOf(recs, 'suspend/verify-qemu/counter'),
      { version: '7.2.22', machine: 'pc-i440fx-7.2' },
      'the QEMU that saved it',
    );
    assert.deepEqual(
      startedQemu(recs, 'resume/restart/counter'),
      { version: '10.0.2', machine: 'pc-i440fx-7.2' },
      'the QEMU that restored it',
    );
    for (const id of [
      'prepare/luo-hold',
      'suspend/save/counter',
      'kexec/verify-luo-holder',
      'kexec/quit/counter',
      'kexec/kexec-exec',
      'kexec/verify-boot',
      'kexec/verify-handover',
      'resume/luo-retrieve',
      'resume/load/counter',
      'resume/cont/counter',
      'resume/luo-finish',
    ]) {
      assert.ok(
        recs.some((r) => r.type === 'step-end' && r.id === id),
        `${id} recorded`,
      );
    }
    const handover = recs.find((r) => r.type === 'step-end' && r.id === 'kexec/verify-handover');
    const lines = (handover?.type === 'step-end' ? (handover.outcome?.['lines'] as string[]) : []).join('\n');
    assert.match(lines, /KHO: found kexec handover data/);
    assert.match(lines, /luo: Retrieved live update data/);
    const bo = recs.find((r) => r.type === 'blackout');
    assert.ok(bo?.type === 'blackout' && bo.vms[0]?.vm === 'counter' && bo.vms[0].ms > 0);
    assert.match(run.stdout, /blackout counter: [0-9]+ ms/);

    // a second update, this one through the on-host agent (the host runs the plan and resumes the VM
    // at boot by itself): the VM now runs on the memfd the new holder retrieved; it is preserved again
    const run2 = await cli(['run', '--agent', '--yes', '--force'], restoredBy(LAB_QEMU11));
    assert.equal(run2.code, 0, run2.stdout + run2.stderr);
    fx.ssh.reset();
    assert.notEqual(await remote(['cat', '/proc/sys/kernel/random/boot_id']), bootAfter, 'a third boot');
    const after2 = await counter();
    assert.equal(after2.status, 'running');
    assert.ok(after2.value > after1.value, `continued again: ${after1.value} -> ${after2.value}`);
    assert.deepEqual(await qemuOn(fx.ssh), { version: '11.1.3', machine: 'pc-i440fx-7.2' }, 'QEMU 11.1 runs it now');
    assert.match(fx.lab.serialText(), /LAB-MARK agent-boot-done rc=0/, "the resume was the host's own, at boot");
    // the agent's journal is on the host
    const recs2 = (await remote(['cat', '/var/lib/liveupdate/lab.journal']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JournalRecord);
    for (const id of ['kexec/verify-handover', 'resume/luo-retrieve', 'resume/cont/counter', 'resume/luo-finish'])
      assert.ok(
        recs2.some((r) => r.type === 'step-end' && r.id === id),
        `${id} recorded on the host`,
      );
    assert.deepEqual(
      outcomeOf(recs2, 'suspend/verify-qemu/counter'),
      { version: '10.0.2', machine: 'pc-i440fx-7.2' },
      'saved by QEMU 10.0',
    );
    assert.deepEqual(
      startedQemu(recs2, 'resume/restart/counter'),
      { version: '11.1.3', machine: 'pc-i440fx-7.2' },
      'restored by QEMU 11.1',
    );
    assert.ok(
      recs2.some((r) => r.type === 'step-end' && r.id === 'prepare/luo-represerve' && r.result === 'ok'),
      'the held memfd was preserved in a new session',
    );
    assert.ok(
      recs2.some((r) => r.type === 'step-end' && r.id === 'prepare/luo-hold' && r.result === 'skipped'),
      'no second holder was started',
    );

    // the session was finished: retrieving it again is a clear error
    await assert.rejects(
      runHelper(fx.ssh, {
        ops: [
          { op: 'luo.open', as: 'l' },
          { op: 'luo.session.retrieve', luo: 'l', name: 'liveupdate-counter', as: 's' },
        ],
      }),
      (e: unknown) => e instanceof HelperError && /LUO session "liveupdate-counter" cannot be retrieved/.test(e.helper.message),
    );
  },
);

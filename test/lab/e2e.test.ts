// The lab: a real Debian kernel kexec'd over SSH under a nested VM whose RAM is in legacy pmem.
// Everything is real: QEMU lab host (TCG), OpenSSH sshd, kexec-tools, ndctl, ext4 -o dax, nested QEMU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JournalRecord } from '../../src/exec/journal.js';
import { ROOT } from '../helpers/paths.js';
import { acrossUpdate, useLab, labHostFlags } from '../helpers/lab.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { counterOn } from '../../src/lab/counter.js';
import { mustRun, outcomeOf, startedQemu, qemuOn } from '../helpers/remote.js';
import { HelperError, probe, runHelper } from '../../src/native/helper.js';
import { tempDir } from '../helpers/temp.js';

const journalDir = tempDir('/var/tmp/lu-lab-journal-');

const fx = useLab('e2e', { qemus: true });

function cli(args: string[], signalAt?: { text: string; signal: NodeJS.Signals }): Promise<CliResult & { signalled?: boolean }> {
  // only the commands that run steps keep a journal; they run step by step over SSH here (--via ssh:
  // the on-host agent, the default with --host, has test/lab/agent*.test.ts)
  const steps = ['prepare', 'suspend', 'kexec', 'resume', 'run', 'abort'].includes(args[0]!);
  const journal = steps || args[0] === 'status' ? ['--journal-dir', journalDir] : [];
  return runCli([...args, ...(steps ? ['--via', 'ssh'] : []), ...labHostFlags(fx), ...journal], signalAt ? { signalAt } : {});
}

const remote = (argv: string[]): Promise<string> => mustRun(fx.ssh, argv);
const liveCounter = (): Promise<{ status: string; value: bigint }> => counterOn(fx.ssh);

test(
  'VFIO: the e1000e is in an IOMMU group, and the plan says why this QEMU cannot keep it across the update',
  { timeout: 300_000 },
  async () => {
    const facts = await cli(['facts', '--profile', join(ROOT, 'profiles/lab-vfio.yaml'), '--json']);
    assert.equal(facts.code, 0, facts.stderr);
    const f = JSON.parse(facts.stdout) as {
      pci: Array<{ address: string; device: string; iommuGroup?: number }>;
      qemu: Array<{ version?: string }>;
    };
    const nic = f.pci.find((d) => d.address === '0000:00:03.0');
    assert.equal(nic?.device, '10d3');
    assert.equal(typeof nic?.iommuGroup, 'number', 'intel-iommu put the NIC in a group');
    const plan = await cli(['plan', '--profile', join(ROOT, 'profiles/lab-vfio.yaml')]);
    assert.equal(plan.code, 1);
    assert.match(
      plan.stderr,
      new RegExp(
        `lab-vfio.yaml:[0-9]+:[0-9]+: vms\\[0\\]\\.vfio: QEMU ${f.qemu[0]!.version!.replace(/\./g, '\\.')} cannot save a VM with a passed-through device: vfio-pci blocks migration`,
      ),
    );
  },
);

test(
  'native helper on the lab host: real VFIO container ioctls on the e1000e; what Debian 6.1 lacks is said so',
  { timeout: 300_000 },
  async () => {
    const nic = '0000:00:03.0';
    // hand the NIC to vfio-pci, as the vfio steps of a plan do
    await remote([
      'sh',
      '-c',
      `echo vfio-pci > /sys/bus/pci/devices/${nic}/driver_override; echo ${nic} > /sys/bus/pci/devices/${nic}/driver/unbind; echo ${nic} > /sys/bus/pci/drivers_probe`,
    ]);
    assert.match(await remote(['readlink', `/sys/bus/pci/devices/${nic}/driver`]), /\/vfio-pci$/);
    const group = Number((await remote(['readlink', `/sys/bus/pci/devices/${nic}/iommu_group`])).split('/').pop());

    // the static helper is copied over SSH and probes the real kernel
    const p = await probe(fx.ssh);
    assert.deepEqual(
      { present: p.vfio.present, apiVersion: p.vfio.apiVersion, type1v2: p.vfio.type1v2 },
      { present: true, apiVersion: 0, type1v2: true },
    );
    assert.deepEqual(
      p.groups.find((g) => g.group === group),
      { group, devices: [nic], vfio: true, viable: true },
    );
    assert.equal(p.iommufd.present, false);
    assert.equal(p.liveupdate.present, false);
    assert.equal(p.kexec.fileLoad, 'supported');

    // container, group, type1v2, a 1 MiB buffer mapped for DMA at IOVA 1 MiB and unmapped again
    const MiB = 1 << 20;
    const base = [
      { op: 'vfio.container.open', as: 'container' },
      { op: 'vfio.group.open', device: nic, as: 'group' },
      { op: 'vfio.group.set_container', group: 'group', container: 'container' },
      { op: 'vfio.set_iommu', container: 'container', type: 'type1v2' },
    ];
    const r = await runHelper(fx.ssh, {
      ops: [
        ...base,
        { op: 'vfio.group.device', group: 'group', device: nic, as: 'dev' },
        { op: 'buffer.alloc', size: MiB, as: 'buf' },
        { op: 'vfio.dma.map', container: 'container', buffer: 'buf', iova: MiB, flags: ['read', 'write'] },
        { op: 'vfio.dma.unmap', container: 'container', iova: MiB, size: MiB },
      ],
    });
    assert.deepEqual(
      r.results.map((x) => x.op),
      [
        'vfio.container.open',
        'vfio.group.open',
        'vfio.group.set_container',
        'vfio.set_iommu',
        'vfio.group.device',
        'buffer.alloc',
        'vfio.dma.map',
        'vfio.dma.unmap',
      ],
    );
    assert.equal(r.results[1]!['group'], group);
    assert.equal(r.results[4]!['pci'], true);
    assert.ok(Number(r.results[4]!['regions']) > 0);
    assert.deepEqual(r.results[6], { op: 'vfio.dma.map', iova: MiB, size: MiB, liveUpdate: false });
    assert.deepEqual(r.results[7], { op: 'vfio.dma.unmap', iova: MiB, unmapped: MiB });

    // the pkernfs RFC's additions on a kernel without them
    const notSupported = async (ops: Array<Record<string, unknown>>, message: RegExp): Promise<void> => {
      await assert.rejects(
        runHelper(fx.ssh, { ops: ops as never }),
        (e: unknown) => e instanceof HelperError && e.helper.code === 'not-supported' && message.test(e.helper.message),
      );
    };
    await notSupported(
      [
        ...base,
        { op: 'open', path: '/lab/counter.img', as: 'pgt' },
        { op: 'vfio.set_persistent_pgtables', container: 'container', file: 'pgt' },
      ],
      /^VFIO_CONTAINER_SET_PERSISTENT_PGTABLES on \/dev\/vfio\/vfio: not supported by this kernel \(ENOTTY\): it needs the pkernfs RFC kernel$/,
    );
    await notSupported(
      [
        ...base,
        { op: 'buffer.alloc', size: MiB, as: 'buf' },
        { op: 'vfio.dma.map', container: 'container', buffer: 'buf', iova: MiB, flags: ['read', 'write', 'live_update'] },
      ],
      /VFIO_DMA_MAP_FLAG_LIVE_UPDATE on \/dev\/vfio\/vfio: not supported by this kernel \(EINVAL/,
    );
    // iommufd, the VFIO cdev and LUO: Debian's 6.1 has none of them
    await notSupported([{ op: 'iommufd.open', as: 'i' }], /no \/dev\/iommu: this kernel has no iommufd/);
    await notSupported(
      [{ op: 'vfio.cdev.open', device: nic, as: 'd' }],
      /bound to vfio-pci but has no VFIO cdev .*: not supported by this kernel \(CONFIG_VFIO_DEVICE_CDEV/,
    );
    await notSupported([{ op: 'luo.open', as: 'l' }], /no \/dev\/liveupdate: this kernel has no LUO: not supported by this kernel/);
  },
);

test(
  'liveupdate run over SSH, Ctrl-C once the host jumped: the window completes on the new boot; the nested VM keeps its RAM in pmem and continues, moved from QEMU 10.0 to 11.1',
  { timeout: 1_200_000 },
  async () => {
    // lab.yaml with the QEMUs of profiles/lab-upgrade.yaml: started on 10.0, restored by 11.1
    const profile = join(ROOT, 'profiles/lab-upgrade.yaml');
    // prepare on its own first, so the guest counts long enough that a restart from zero could not catch up
    const prep = await cli(['prepare', '--profile', profile]);
    assert.equal(prep.code, 0, prep.stderr + prep.stdout);
    await sleep(12_000);
    assert.deepEqual(await qemuOn(fx.ssh), { version: '10.0.2', machine: 'pc-i440fx-10.0' }, "QEMU 10.0 started it on its own 'pc'");

    // reviewed, then run exactly: the plan saved from live facts binds to the same host and boot
    const planFile = join(journalDir, 'run.plan');
    const saved = await cli(['plan', '--profile', profile, '--force', '--out', planFile]);
    assert.equal(saved.code, 0, saved.stderr);
    let run: (CliResult & { signalled?: boolean }) | undefined;
    const u = await acrossUpdate(fx, async () => {
      // a real Ctrl-C (SIGINT) to the CLI driving the steps, once kexec -e returned: inside the window,
      // past the point of no return; the CLI never stops inside the window, so the new boot is proven
      // and the VM restored and continued before it stops
      run = await cli(['run', '--plan', planFile, '--yes'], { text: '✓ kexec/kexec-exec', signal: 'SIGINT' });
      assert.ok(run.signalled, 'SIGINT sent once the host jumped');
      assert.match(run.stderr + run.stdout, /interrupted: stopping after the steps now running/);
      // the window's last step is the VM's cont: done is done (exit 0); a step after the window, not started, exits 130
      assert.ok(run.code === 0 || run.code === 130, `exit ${run.code}: ${run.stderr}${run.stdout}`);
      if (run.code === 130) {
        assert.match(run.stderr + run.stdout, /not started: the run was interrupted/);
        const rest = await cli(['resume', '--profile', profile]);
        assert.equal(rest.code, 0, rest.stderr + rest.stdout);
      }
    });
    const { bootBefore, bootAfter, counterBefore: beforeRun, counterAfter: after1 } = u;
    assert.equal(beforeRun.status, 'running');
    assert.ok(beforeRun.value > 0n);
    assert.notEqual(bootAfter, bootBefore, 'a new boot');
    assert.match(await remote(['cat', '/proc/cmdline']), /memmap=256M!1G/);

    assert.equal(after1.status, 'running');
    // the boot sector zeroes the count when it starts: only a VM that continued is past its pre-run value
    assert.ok(after1.value > beforeRun.value, `continued: ${beforeRun.value} before the run, ${after1.value} after`);
    await sleep(2000);
    assert.ok((await liveCounter()).value > after1.value, 'still counting');
    assert.deepEqual(await qemuOn(fx.ssh), { version: '11.1.3', machine: 'pc-i440fx-10.0' }, 'QEMU 11.1 runs it now, on the type it ran');

    const recs = readdirSync(journalDir)
      .filter((f) => f.endsWith('.journal'))
      .flatMap((f) =>
        readFileSync(join(journalDir, f), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as JournalRecord),
      );
    for (const id of [
      'prepare/start/counter',
      'suspend/kexec-load',
      'suspend/stop/counter',
      'suspend/save/counter',
      'kexec/umount',
      'kexec/kexec-exec',
      'kexec/verify-boot',
      'resume/mount-dax',
      'resume/load/counter',
      'resume/cont/counter',
    ]) {
      assert.ok(
        recs.some((r) => r.type === 'step-end' && r.id === id),
        `${id} recorded`,
      );
    }
    assert.ok(
      recs.some((r) => r.type === 'phase' && r.plan !== undefined),
      'the plan is in the journal',
    );
    assert.deepEqual(
      startedQemu(recs, 'prepare/start/counter'),
      { version: '10.0.2', machine: 'pc-i440fx-10.0' },
      'the first start: the alias resolved, recorded',
    );
    assert.deepEqual(
      outcomeOf(recs, 'suspend/verify-qemu/counter'),
      { version: '10.0.2', machine: 'pc-i440fx-10.0' },
      'the QEMU that saved it',
    );
    assert.deepEqual(
      startedQemu(recs, 'resume/restart/counter'),
      { version: '11.1.3', machine: 'pc-i440fx-10.0' },
      'the QEMU that restored it',
    );
    const verify = recs.find((r) => r.type === 'step-end' && r.id === 'kexec/verify-boot');
    assert.ok(verify?.type === 'step-end' && verify.outcome?.['bootId'] === bootAfter && verify.outcome['previousBootId'] === bootBefore);
    const bo = recs.find((r) => r.type === 'blackout');
    assert.ok(bo?.type === 'blackout' && bo.vms[0]?.vm === 'counter' && bo.vms[0].ms > 0);
    if (run!.code === 0) assert.match(run!.stdout, /blackout counter: [0-9]+ ms/);
    console.log(`Ctrl-C after kexec -e: exit ${run!.code}, the window completed (boot ${bootBefore} -> ${bootAfter})`);
  },
);

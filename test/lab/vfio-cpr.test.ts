// A VMM-only update that hands a VM with a passed-through device to a new QEMU by cpr-transfer, for
// real: the LUO lab kernel (Linux 7.2: LUO, iommufd, the VFIO cdev, KVM) booted under QEMU TCG; the
// lab's emulated e1000e bound to vfio-pci and passed via iommufd to the counter VM, whose RAM is a
// memfd the LUO holder keeps and which runs under the lab host's KVM (on its emulated AMD SVM:
// QEMU's VFIO hand-over needs KVM, see src/qemu/mode.ts). QEMU 11.1 -> 11.1 (VFIO is handed over
// from 10.1 only). Real QMP, real journal, the real CLI over SSH; nothing is simulated.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { setTimeout as sleep } from 'node:timers/promises';
import { QmpClient } from '../../src/qemu/qmp.js';
import { LAB_VFIO_CPR_PROFILE } from '../../src/lab/lab.js';
import { counterOn } from '../../src/lab/counter.js';
import { mustRun, outcomeOf } from '../helpers/remote.js';
import { journalRecords, useLab, labHostFlags } from '../helpers/lab.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp.js';

const journalDir = tempDir('/var/tmp/lu-vfio-cpr-journal-');
const NIC = '0000:00:03.0';
const DEVICE_ID = 'vfio-0000-00-03-0';

const fx = useLab('vfio-cpr', { kernel: 'luo', qemus: true });

// step by step over SSH; `plan` runs nothing, so it takes neither --via nor a journal
const cli = (args: string[]): Promise<CliResult> =>
  runCli([
    ...args,
    ...(args[0] === 'plan' ? [] : ['--via', 'ssh', '--journal-dir', journalDir]),
    '--profile',
    LAB_VFIO_CPR_PROFILE,
    ...labHostFlags(fx),
  ]);
const remote = (argv: string[]): Promise<string> => mustRun(fx.ssh, argv);
const pid = async (): Promise<number> => Number(await remote(['cat', '/run/liveupdate/vms/counter/qemu.pid']));
/** The kernel's own word for a device reset: vfio-pci logs each one (QEMU's start of a VM resets its device). */
const resets = async (): Promise<number> =>
  (await remote(['dmesg'])).split('\n').filter((l) => l.includes(`vfio-pci ${NIC}: resetting`)).length;

/** Each QEMU's trace (the profile's -D /var/log/qemu-counter-%d.log): its events, in order, with their text. */
async function traces(): Promise<Array<{ file: string; events: Array<{ name: string; text: string }> }>> {
  const files = (await remote(['sh', '-c', 'ls /var/log/qemu-counter-*.log'])).split('\n').filter(Boolean);
  return Promise.all(
    files.map(async (file) => ({
      file,
      events: (await remote(['cat', file])).split('\n').flatMap((l) => {
        const m = /^(?:[0-9]+@[0-9.]+:)?([a-z0-9_]+) (.*)$/.exec(l);
        return m ? [{ name: m[1]!, text: m[2]! }] : [];
      }),
    })),
  );
}

/** The IOMMU mappings a trace made of guest RAM (IOVA below the VM's 64M): iommufd_backend_map(_file)_dma and unmap events. */
const guestRamMappings = (events: Array<{ name: string; text: string }>): string[] =>
  events
    .filter(
      (e) =>
        /^iommufd_backend_(map_file_dma|map_dma|unmap_dma)$/.test(e.name) &&
        Number(/iova=(0x[0-9a-f]+)/.exec(e.text)?.[1] ?? 0) < 64 * 1024 * 1024,
    )
    .map((e) => `${e.name} ${e.text}`);

/** The passed-through device as the guest sees it, from the VM's QEMU. */
async function guestDevice(): Promise<{ vendor: number; device: number } | undefined> {
  const c = await QmpClient.over(await fx.ssh.connectUnix('/run/liveupdate/vms/counter/qmp.sock'), 'lab-counter', 30_000);
  try {
    const buses = await c.execute<Array<{ devices: Array<{ qdev_id: string; id: { vendor: number; device: number } }> }>>('query-pci');
    const d = buses.flatMap((b) => b.devices).find((x) => x.qdev_id === DEVICE_ID);
    return d && { vendor: d.id.vendor, device: d.id.device };
  } finally {
    await c.close();
  }
}

test('the lab host has KVM (on its emulated AMD SVM), iommufd and LUO', { timeout: 60_000 }, async () => {
  assert.equal(await remote(['sh', '-c', 'test -c /dev/kvm && test -c /dev/iommu && test -c /dev/liveupdate && echo yes']), 'yes');
  assert.match(await remote(['dmesg']), /kvm_amd: Nested Paging enabled/);
});

test(
  'a VMM-only update hands the VM and its passed-through e1000e to a new QEMU by cpr-transfer: the counter goes on, the new QEMU has the device, which was neither reset nor re-mapped',
  { timeout: 900_000 },
  async (ctx) => {
    const prep = await cli(['prepare']);
    assert.equal(prep.code, 0, prep.stdout + prep.stderr);
    assert.match(await remote(['readlink', `/sys/bus/pci/devices/${NIC}/driver`]), /\/vfio-pci$/);
    assert.deepEqual(await guestDevice(), { vendor: 0x8086, device: 0x10d3 }, 'the VM has the e1000e');
    const plan = await cli(['plan', '--vmm-only', '--phase', 'suspend', '--json']);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    const vm = (JSON.parse(plan.stdout) as { vms: Array<{ migrationMode: string; notTaken: Array<{ mode: string; why: string }> }> })
      .vms[0]!;
    assert.equal(vm.migrationMode, 'cpr-transfer', JSON.stringify(vm.notTaken));

    const oldPid = await pid();
    const resetsBefore = await resets();
    assert.ok(resetsBefore >= 1, 'the kernel logs a reset when QEMU takes the device (so the count below can move)');
    const before = await counterOn(fx.ssh);
    assert.equal(before.status, 'running');

    const r = await cli(['run', '--phase', 'update', '--yes', '--vmm-only', '--force']);
    assert.equal(r.code, 0, r.stdout + r.stderr);

    // the VM counts on, on another QEMU, the one its pidfile names; the old one is gone
    const a = await counterOn(fx.ssh);
    assert.equal(a.status, 'running');
    assert.ok(a.value > before.value, `counts on (${before.value} -> ${a.value})`);
    await sleep(1000);
    assert.ok((await counterOn(fx.ssh)).value > a.value, 'and keeps counting');
    const newPid = await pid();
    assert.notEqual(newPid, oldPid);
    assert.equal((await fx.ssh.exec(['kill', '-0', String(oldPid)])).exitCode, 1, 'the old QEMU is gone');
    assert.equal(await remote(['sh', '-c', 'pgrep -c -x qemu-system-x86 || true']), '1', 'one QEMU (by process name, 15 characters)');
    const recs = journalRecords(journalDir);
    assert.deepEqual(outcomeOf(recs, 'resume/verify-new/counter'), { version: '11.1.3', machine: 'pc-i440fx-11.1', status: 'paused' });
    const transfer = outcomeOf(recs, 'resume/transfer/counter') as { status: string; downtimeMs: number };
    assert.equal(transfer.status, 'completed');
    // the figures, for the README: the orchestrator's blackout and QEMU's own downtime
    ctx.diagnostic(`${/blackout[^\n]*/.exec(r.stdout)?.[0] ?? 'no blackout line'}; QEMU's downtime ${transfer.downtimeMs} ms`);

    // the new QEMU has the device: the guest sees it, and QEMU holds /dev/iommu and the device's cdev
    assert.deepEqual(await guestDevice(), { vendor: 0x8086, device: 0x10d3 }, 'the new QEMU shows the e1000e');
    const fds = await remote(['sh', '-c', `for f in /proc/${newPid}/fd/*; do readlink "$f"; done`]);
    assert.match(fds, /^\/dev\/iommu$/m);
    assert.match(fds, /^\/dev\/vfio\/devices\/vfio[0-9]+$/m);
    // not reset: the kernel logged no reset of the device since
    assert.equal(await resets(), resetsBefore, 'no reset of the device during the hand-over');
    // not re-mapped: the old QEMU mapped guest RAM into the IOAS for the device's DMA; the new QEMU found the iommufd and the device's open files in it, moved the IOAS's
    // mappings to itself (IOMMU_IOAS_CHANGE_PROCESS) and mapped or unmapped no guest RAM
    const t = await traces();
    const names = (x: { events: Array<{ name: string }> }): Set<string> => new Set(x.events.map((e) => e.name));
    // the new QEMU loaded the CPR state; the old one saved the device's fds into it
    const nu = t.find((x) => names(x).has('cpr_state_load'));
    const old = t.find((x) => x !== nu && names(x).has('cpr_save_fd'));
    assert.ok(old && nu && old !== nu, t.map((x) => `${x.file}: ${[...names(x)].join(' ')}`).join('\n'));
    assert.ok(
      guestRamMappings(old.events).some((m) => m.startsWith('iommufd_backend_map_file_dma')),
      `the old QEMU mapped guest RAM (so the trace sees it): ${[...names(old)].join(' ')}`,
    );
    assert.deepEqual(guestRamMappings(nu.events), [], 'the new QEMU mapped no guest RAM');
    assert.ok(names(nu).has('iommufd_change_process'), 'it took the mappings over');
    assert.deepEqual(
      nu.events.filter((e) => e.name.startsWith('vfio_pci_reset')),
      [],
      'and reset nothing',
    );
    const found = nu.events.filter((e) => e.name === 'cpr_find_fd' && !/returns -1/.test(e.text)).map((e) => /^(\S+),/.exec(e.text)?.[1]);
    assert.ok(
      found.includes('iommufd0') && found.includes(NIC),
      `the iommufd and the device's files came from the old QEMU: ${found.join(' ')}`,
    );
  },
);

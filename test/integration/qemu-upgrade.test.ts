// VMM updates that move real VMs between real QEMUs on this machine: Debian 12's 7.2, bookworm-
// backports' 10.0 and trixie-backports' 11.1 (lab/qemu/fetch-qemu1{0,1}.sh, unpacked under .cache/lab).
// Real QMP, real journal, real files; the only double is the facts edit of test/helpers/cli-host.ts
// (a loop-mounted ext4 reported as an active pmem carve-out).
import { test, before } from 'node:test';
import { rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliHost, counter, identity, journal, prepare, type CliHost } from '../helpers/cli-host.js';
import { LOCAL_QEMU, requireLocalQemus } from '../helpers/lab.js';
import { outcomeOf, startedQemu } from '../helpers/remote.js';
import { tempDir } from '../helpers/temp.js';

const T = { timeout: 600_000 };

before(() => requireLocalQemus());

const run = (h: CliHost): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  h.cli(['run', '--phase', 'update', '--vmm-only', '--yes', '--profile', h.profile, '--facts', h.facts]);

test(
  'a VMM update moves a running VM from QEMU 10.0 to 11.1 on the versioned type its alias named at first start, by stop/save/restart; the journal records both',
  T,
  async () => {
    // the profile names the mode, so this is the restart path (cpr-transfer: test/integration/cpr-transfer.test.ts)
    const h = await cliHost({
      vms: 1,
      qemu: { binary: LOCAL_QEMU['10.0'], restoreBinary: LOCAL_QEMU['11.1'], machine: 'pc' },
      migrationMode: 'cpr-reboot',
    });
    try {
      const vm = h.names[0]!;
      await prepare(h);
      assert.deepEqual(
        await identity(h, vm),
        { version: '10.0.2', machine: 'pc-i440fx-10.0' },
        "started on the type 'pc' named in QEMU 10.0",
      );
      await h.refreshFacts();
      await sleep(1000);
      const r = await run(h);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /blackout .*: [0-9]+ ms/);
      // QEMU 11.1 runs it now, on the 10.0 type (11.1's 'pc' is pc-i440fx-11.1), and it counts on
      assert.deepEqual(await identity(h, vm), { version: '11.1.3', machine: 'pc-i440fx-10.0' });
      const stopped = h.counterInRamFile(vm);
      await sleep(1000);
      const c = await counter(h, vm);
      assert.equal(c.status, 'running');
      assert.ok(c.value > stopped, `continued: ${stopped} when saved, ${c.value} now`);
      const recs = journal(h);
      assert.deepEqual(
        outcomeOf(recs, `suspend/verify-qemu/${vm}`),
        { version: '10.0.2', machine: 'pc-i440fx-10.0' },
        'the QEMU that saved it',
      );
      assert.deepEqual(
        startedQemu(recs, `resume/restart/${vm}`),
        { version: '11.1.3', machine: 'pc-i440fx-10.0' },
        'the QEMU that restored it',
      );
    } finally {
      h.cleanup();
    }
  },
);

test('7.2 to 10.0: the same on Debian 12 QEMU, pc-i440fx-7.2 kept', T, async () => {
  const h = await cliHost({ vms: 1, qemu: { binary: LOCAL_QEMU['7.2'], restoreBinary: LOCAL_QEMU['10.0'], machine: 'pc' } });
  try {
    const vm = h.names[0]!;
    await prepare(h);
    assert.equal((await identity(h, vm)).machine, 'pc-i440fx-7.2');
    await h.refreshFacts();
    const r = await run(h);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await identity(h, vm), { version: '10.0.2', machine: 'pc-i440fx-7.2' });
    const stopped = h.counterInRamFile(vm);
    await sleep(1000);
    assert.ok((await counter(h, vm)).value > stopped, 'continued');
  } finally {
    h.cleanup();
  }
});

test(
  'the QEMU binary of the profile upgraded under a running VM: the facts ask the running process (7.2), the path answers 10.0, and the update moves it',
  T,
  async () => {
    // the double: a script at a path of its own stands for the installed package's binary (it execs
    // Debian 12's QEMU, so the running process is that QEMU); the "upgrade" replaces the script with
    // one that execs QEMU 10.0, as a package upgrade replaces the file under a running VM
    const bin = tempDir('/var/tmp/lu-pkg-');
    const qemu = join(bin, 'qemu-system-x86_64');
    const at = (real: string): void => writeFileSync(qemu, `#!/bin/sh\nexec ${real} "$@"\n`, { mode: 0o755 });
    at(LOCAL_QEMU['7.2']);
    const h = await cliHost({ vms: 1, qemu: { binary: qemu, machine: 'q35' } });
    try {
      const vm = h.names[0]!;
      await prepare(h);
      assert.deepEqual(await identity(h, vm), { version: '7.2.22', machine: 'pc-q35-7.2' });
      unlinkSync(qemu);
      at(LOCAL_QEMU['10.0']);
      await h.refreshFacts();
      const plan = await h.cli(['plan', '--phase', 'all', '--vmm-only', '--profile', h.profile, '--facts', h.facts, '--json']);
      assert.equal(plan.code, 0, plan.stderr);
      const doc = JSON.parse(plan.stdout) as {
        vms: Array<{ qemu: { from: { version: string; machine: string }; to: { version: string; machine: string }; upgrade: string } }>;
      };
      assert.deepEqual(
        [doc.vms[0]!.qemu.from, doc.vms[0]!.qemu.to].map((x) => [x.version, x.machine]),
        [
          ['7.2.22', 'pc-q35-7.2'],
          ['10.0.2', 'pc-q35-7.2'],
        ],
      );
      assert.match(doc.vms[0]!.qemu.upgrade, /a tested pair/);
      const r = await run(h);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(await identity(h, vm), { version: '10.0.2', machine: 'pc-q35-7.2' });
      assert.equal((await counter(h, vm)).status, 'running');
    } finally {
      h.cleanup();
      rmSync(bin, { recursive: true, force: true });
    }
  },
);

test(
  'refused before anything stops, with the reason: a downgrade (11.1 to 10.0), an unversioned machine type (isapc, 10.0 to 11.1)',
  T,
  async () => {
    const cases = [
      {
        qemu: { binary: LOCAL_QEMU['11.1'], restoreBinary: LOCAL_QEMU['10.0'], machine: 'pc' },
        field: 'restoreBinary',
        why: /a downgrade: QEMU 10\.0\.2 does not load state saved by the newer 11\.1\.3/,
      },
      {
        qemu: { binary: LOCAL_QEMU['10.0'], restoreBinary: LOCAL_QEMU['11.1'], machine: 'isapc' },
        field: 'machine',
        why: /machine type isapc is not versioned/,
      },
    ];
    for (const k of cases) {
      const h = await cliHost({ vms: 1, qemu: k.qemu });
      try {
        const vm = h.names[0]!;
        await prepare(h);
        await h.refreshFacts();
        const pids = h.qemuPids();
        const before = await counter(h, vm);
        const r = await run(h);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`profile\\.yaml:\\d+:\\d+: vms\\[0\\]\\.qemu\\.${k.field}: ${vm}: QEMU .* refused: ${k.why.source}`),
        );
        assert.match(r.stderr, /nothing was done/);
        assert.deepEqual(h.qemuPids(), pids, 'the same QEMU runs the VM');
        const after = await counter(h, vm);
        assert.equal(after.status, 'running');
        assert.ok(after.value > before.value, 'never paused');
      } finally {
        h.cleanup();
      }
    }
  },
);

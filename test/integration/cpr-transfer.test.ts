// VMM-only updates by cpr-transfer with real QEMUs on this machine: bookworm-backports' 10.0 and
// trixie-backports' 11.1 (lab/qemu/fetch-qemu1{0,1}.sh, unpacked under .cache/lab). Real QMP, real
// journal, the real CLI; the only double is the facts edit of test/helpers/cli-host.ts (a
// loop-mounted ext4 reported as an active pmem carve-out).
import { test, before } from 'node:test';
import { existsSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFactsFile } from '../../src/facts/file.js';
import { cliHost, counter, identity, journal, prepare, type CliHost } from '../helpers/cli-host.js';
import { LOCAL_QEMU, requireLocalQemus } from '../helpers/lab.js';
import { outcomeOf } from '../helpers/remote.js';

const T = { timeout: 600_000 };

before(() => requireLocalQemus());

const base = (h: CliHost): string[] => ['--profile', h.profile, '--facts', h.facts, '--vmm-only'];
const update = (h: CliHost, args: string[] = []) => h.cli(['run', '--phase', 'update', '--yes', ...base(h), ...args]);
const runDirOf = (h: CliHost, vm: string): string => join(h.dir, 'run', 'vms', vm);
const pidOf = (h: CliHost, vm: string): number => Number(readFileSync(join(runDirOf(h, vm), 'qemu.pid'), 'utf8').trim());

/** The VM runs, counting on from where it was, on one QEMU: the one its pidfile and QMP socket name. */
async function assertRunsOn(h: CliHost, vm: string, want: { version: string; machine: string }, at: string): Promise<void> {
  const before = h.counterInRamFile(vm);
  await sleep(500);
  const c = await counter(h, vm);
  assert.equal(c.status, 'running', at);
  assert.ok(c.value > before, `${at}: counts on (${before} -> ${c.value})`);
  assert.deepEqual(await identity(h, vm), want, at);
  const pids = h.qemuPids();
  assert.deepEqual(pids, [pidOf(h, vm)], `${at}: exactly one QEMU, the one the VM's pidfile names`);
}

test(
  "cpr-transfer 10.0 -> 11.1 -> 11.1: the VM is handed over twice with no state file, the counter goes on, the new QEMU takes the VM's paths; the journal records both versions and QEMU's downtime",
  T,
  async () => {
    const h = await cliHost({ vms: 1, qemu: { binary: LOCAL_QEMU['10.0'], restoreBinary: LOCAL_QEMU['11.1'], machine: 'pc' } });
    try {
      const vm = h.names[0]!;
      await prepare(h);
      await h.refreshFacts();
      const facts = await readFactsFile(h.facts);
      assert.equal(facts.vms?.[0]?.auxRamShare, true, 'liveupdate started QEMU 10.0 with aux-ram-share=on, and the facts read it back');
      const plan = await h.cli(['plan', ...base(h), '--phase', 'suspend', '--json']);
      assert.equal(plan.code, 0, plan.stderr);
      assert.equal((JSON.parse(plan.stdout) as { vms: Array<{ migrationMode: string }> }).vms[0]!.migrationMode, 'cpr-transfer');
      const oldPid = pidOf(h, vm);
      await sleep(500);
      const r = await update(h);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /blackout .*: [0-9]+ ms/);
      await assertRunsOn(h, vm, { version: '11.1.3', machine: 'pc-i440fx-10.0' }, 'after the first hand-over');
      assert.notEqual(pidOf(h, vm), oldPid, 'another process: the old QEMU is gone');
      assert.ok(!existsSync(join(h.mount, 'state', `${vm}.state`)), 'no state file was written');
      assert.deepEqual(
        readdirSync(runDirOf(h, vm)).sort(),
        ['qemu.pid', 'qmp.sock'],
        "the new QEMU's own QMP socket and pidfile are gone: it answers on the VM's, in the VM's folder",
      );
      const recs = journal(h);
      assert.deepEqual(
        outcomeOf(recs, `suspend/verify-qemu/${vm}`),
        { version: '10.0.2', machine: 'pc-i440fx-10.0' },
        'the QEMU that handed it over',
      );
      const got = outcomeOf(recs, `resume/verify-new/${vm}`) as { version: string; machine: string; status: string };
      assert.deepEqual(
        got,
        { version: '11.1.3', machine: 'pc-i440fx-10.0', status: 'paused' },
        'the QEMU that took it, checked before it ran',
      );
      const transfer = outcomeOf(recs, `resume/transfer/${vm}`) as { status: string; downtimeMs: number };
      assert.equal(transfer.status, 'completed');
      assert.equal(typeof transfer.downtimeMs, 'number', "QEMU's own downtime figure is recorded");

      // a second update: the VM's QEMU is now one a cpr-transfer started (its own paths, removed as it exits, on its command line)
      await h.refreshFacts();
      const again = await readFactsFile(h.facts);
      assert.deepEqual([again.vms?.[0]?.version, again.vms?.[0]?.auxRamShare], ['11.1.3', true], 'the facts find the handed-over VM');
      const r2 = await update(h);
      assert.equal(r2.code, 0, r2.stdout + r2.stderr);
      await assertRunsOn(h, vm, { version: '11.1.3', machine: 'pc-i440fx-10.0' }, 'after the second hand-over');
    } finally {
      h.cleanup();
    }
  },
);

test(
  'the new QEMU is not the one planned (its binary replaced after the plan): it is stopped after it received the VM but before it ran it, and the old QEMU continues the VM',
  T,
  async () => {
    // the double: the restoring QEMU is a symlink; after the facts read 11.1 there, it is pointed at 10.0
    const link = '/var/tmp/lu-cpr-restore-qemu';
    rmSync(link, { force: true });
    symlinkSync(LOCAL_QEMU['11.1'], link);
    const h = await cliHost({ vms: 1, qemu: { binary: LOCAL_QEMU['10.0'], restoreBinary: link, machine: 'pc' } });
    try {
      const vm = h.names[0]!;
      await prepare(h);
      await h.refreshFacts();
      rmSync(link);
      symlinkSync(LOCAL_QEMU['10.0'], link);
      const oldPid = pidOf(h, vm);
      const r = await update(h);
      assert.notEqual(r.code, 0, 'the update failed');
      assert.match(r.stdout + r.stderr, /new QEMU is 10\.0\.2, the plan hands it to 11\.1\.3/);
      assert.match(r.stdout + r.stderr, /abort/i);
      await assertRunsOn(h, vm, { version: '10.0.2', machine: 'pc-i440fx-10.0' }, 'after the abort');
      assert.equal(pidOf(h, vm), oldPid, 'the same old QEMU');
      const recs = journal(h);
      assert.ok(
        recs.some((x) => x.type === 'step-end' && x.id === `resume/transfer/${vm}` && x.result === 'ok'),
        'the VM had been handed over',
      );
      assert.ok(
        recs.some((x) => x.type === 'step-end' && x.id === `abort/cont-old/${vm}` && x.result === 'ok'),
        'and taken back by the old QEMU',
      );
      assert.ok(!recs.some((x) => x.type === 'step-end' && x.id === `resume/cont/${vm}`), 'the new QEMU never ran it');
    } finally {
      rmSync(link, { force: true });
      h.cleanup();
    }
  },
);

test(
  'the orchestrator killed after each step of the hand-over: running resume again finishes it, or abort takes the VM back; one QEMU, the counter going on',
  { timeout: 1_500_000 },
  async () => {
    // kill right after the step named (its step-end line), then the operator runs resume, or abort
    const cases: Array<[string, 'resume' | 'abort']> = [
      ['suspend/start-new/', 'abort'],
      ['resume/transfer/', 'resume'],
      ['resume/transfer/', 'abort'],
      ['resume/verify-new/', 'abort'],
      ['resume/cont/', 'abort'],
      ['resume/cont/', 'resume'],
      ['resume/quit-old/', 'abort'],
      ['resume/quit-old/', 'resume'],
    ];
    for (const [after, then] of cases) {
      const at = `killed after ${after}, then ${then}`;
      const h = await cliHost({ vms: 1, qemu: { binary: LOCAL_QEMU['10.0'], restoreBinary: LOCAL_QEMU['11.1'], machine: 'pc' } });
      try {
        const vm = h.names[0]!;
        await prepare(h);
        await h.refreshFacts();
        // the CLI stops itself right after that step end (the failpoint, preloaded): the kill lands on
        // that boundary, never a step or two later
        const failpoint = {
          NODE_OPTIONS:
            `${process.env['NODE_OPTIONS'] ?? ''} --import=${new URL('../helpers/agent-failpoint.js', import.meta.url).href}`.trim(),
          LU_TEST_STOP_AT_STEP: `${after}${vm}`,
        };
        const r = await h.cli(
          ['run', '--phase', 'update', '--yes', ...base(h), '--json'],
          (line, kill) => {
            if (line.includes('"type":"step-end"') && line.includes(`"id":"${after}${vm}"`)) kill();
          },
          failpoint,
        );
        assert.equal(r.signal, 'SIGKILL', `${at}: ${r.stdout.slice(-500)}`);
        const last = journal(h).at(-1);
        assert.ok(
          last?.type === 'step-end' && last.id === `${after}${vm}`,
          `${at}: the journal ends there, nothing after it ran (${JSON.stringify(last)})`,
        );
        const next = await h.cli([then, ...base(h)]);
        assert.equal(next.code, 0, `${at}: ${next.stdout}${next.stderr}`);
        // cont done: the new QEMU ran the VM, so even an abort finishes forward (the old one is never
        // continued). Killed right after verify-new, the cont may or may not have reached the new QEMU:
        // the abort's own steps say which it found, and the VM must run where they say.
        const ended = (id: string): boolean => journal(h).some((x) => x.type === 'step-end' && x.id === `${id}${vm}` && x.result === 'ok');
        const forward =
          then === 'resume' ||
          after === 'resume/cont/' ||
          after === 'resume/quit-old/' ||
          (after === 'resume/verify-new/' && ended('abort/quit-old/'));
        if (then === 'abort') {
          assert.ok(!(forward && ended('abort/cont-old/')), `${at}: the new QEMU ran the VM, yet the old one was continued`);
          assert.ok(!(!forward && ended('abort/quit-old/')), `${at}: the old QEMU was quit, yet the VM went back to it`);
        }
        await assertRunsOn(h, vm, { version: forward ? '11.1.3' : '10.0.2', machine: 'pc-i440fx-10.0' }, at);
        assert.deepEqual(readdirSync(runDirOf(h, vm)).sort(), ['qemu.pid', 'qmp.sock'], `${at}: no new QEMU's paths left behind`);
      } finally {
        h.cleanup();
      }
    }
  },
);

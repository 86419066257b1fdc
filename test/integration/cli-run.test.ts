// The CLI as an operator runs it, against this machine: real QEMU, real journal, real files.
// The only double is the facts edit described in test/helpers/cli-host.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { JOURNAL_FORMAT_VERSION, journalFile, type JournalRecord } from '../../src/exec/journal.js';
import { assertRecovered, cliHost, counter, journal, prepare, type CliHost } from '../helpers/cli-host.js';
import { tempDir } from '../helpers/temp.js';

const T = { timeout: 600_000 };

const base = (h: CliHost): string[] => ['--profile', h.profile, '--facts', h.facts, '--vmm-only'];

/** A journal written as a real run leaves it, where the CLI will look for it. */
function writeJournal(h: CliHost, records: JournalRecord[]): void {
  const file = journalFile(join(h.dir, 'journal'), 'clihost');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

test('dry run prints the plan and changes nothing', T, async () => {
  const h = await cliHost({ vms: 1 });
  try {
    const r = await h.cli(['suspend', ...base(h), '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /suspend\/stop\/.*pause/);
    assert.equal(existsSync(join(h.dir, 'journal')), false, 'no journal written');
    assert.deepEqual(h.qemuPids(), []);
  } finally {
    h.cleanup();
  }
});

test('suspend, kexec (VMM restart), resume: the VMs continue and the journal shows every step', T, async () => {
  const h = await cliHost({ vms: 2 });
  try {
    await prepare(h);
    await sleep(1000);
    for (const cmd of ['suspend', 'kexec', 'resume']) {
      const r = await h.cli([cmd, ...base(h)]);
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}${r.stdout}`);
      if (cmd === 'resume') assert.match(r.stdout, /blackout .*: [0-9]+ ms/);
    }
    for (const vm of h.names) {
      const stopped = h.counterInRamFile(vm);
      const c = await counter(h, vm);
      assert.equal(c.status, 'running');
      assert.ok(c.value > stopped || c.value > 0n);
    }
    const recs = journal(h);
    assert.equal(recs.filter((r) => r.type === 'done').length, 1);
    for (const vm of h.names)
      for (const step of ['stop', 'save', 'quit', 'restart', 'load', 'cont'])
        assert.ok(
          recs.some((r) => r.type === 'step-end' && r.id.endsWith(`/${step}/${vm}`)),
          `${step}/${vm} in the journal`,
        );
    const st = await h.cli(['status', '--profile', h.profile, '--json']);
    const status = JSON.parse(st.stdout) as { finished: boolean; blackouts: Array<{ vm: string; ms: number }> };
    assert.equal(status.finished, true);
    assert.equal(status.blackouts.length, 2);
  } finally {
    h.cleanup();
  }
});

test('a plan for another boot is refused, nothing changed', T, async () => {
  const h = await cliHost({ vms: 1 });
  try {
    const facts = JSON.parse(readFileSync(h.facts, 'utf8')) as { bootId: string };
    facts.bootId = '00000000-0000-0000-0000-000000000000';
    writeFileSync(h.facts, JSON.stringify(facts));
    const r = await h.cli(['suspend', ...base(h)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the plan was made from facts of boot 00000000-.* nothing was done/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  } finally {
    h.cleanup();
  }
});

test('bad input for the run commands: clear errors, exit codes, nothing changed', T, async () => {
  const h = await cliHost({ vms: 1 });
  try {
    const missing = await h.cli(['run', '--profile', join(h.dir, 'nope.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read profile .*nope.yaml: ENOENT/);
    const badHost = await h.cli(['resume', ...base(h), '--host', 'root@bad host']);
    assert.equal(badHost.code, 64);
    assert.match(badHost.stderr, /expected \[user@\]address\[:port\] or a Host of ssh_config/);
    const phase = await h.cli(['run', ...base(h), '--phase', 'suspend']);
    assert.equal(phase.code, 64);
    assert.match(phase.stderr, /--phase suspend: run takes all or update \(plan --phase names a single phase\)/);
    // the older spelling is still read, with a word that it changed; two different answers are refused
    const older = await h.cli(['run', ...base(h), '--phases', 'suspend']);
    assert.equal(older.code, 64);
    assert.match(older.stderr, /--phases is now spelt --phase \(run --phase suspend\), as plan spells it/);
    const both = await h.cli(['run', ...base(h), '--phase', 'update', '--phases', 'all']);
    assert.equal(both.code, 64);
    assert.match(both.stderr, /--phase update and --phases all say two things: give --phase alone/);
    const unreachable = await h.cli(['suspend', '--profile', h.profile, '--host', 'root@127.0.0.1:1']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot connect: connection refused/);
    const other = await h.cli(['suspend', '--profile', h.profile, '--facts', join(process.cwd(), 'profiles/facts/lab.json')]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /the facts are from host 'lab' but .* is for 'clihost'/);
    assert.equal(existsSync(join(h.dir, 'journal')), false);
    assert.deepEqual(h.qemuPids(), []);
  } finally {
    h.cleanup();
  }
});

test(
  'crash at every step boundary: re-running continues, VMs end up running with memory intact, nothing unsafe repeats',
  { timeout: 1_500_000 },
  async () => {
    // count the step boundaries of an uninterrupted run first
    const phases = ['suspend', 'kexec', 'resume'];
    let boundaries = 0;
    {
      const h = await cliHost({ vms: 1 });
      try {
        await prepare(h);
        for (const cmd of phases) {
          const r = await h.cli([cmd, ...base(h), '--json'], (line) => {
            if (line.includes('"type":"step-end"')) boundaries++;
          });
          assert.equal(r.code, 0, r.stderr);
        }
      } finally {
        h.cleanup();
      }
    }
    assert.ok(boundaries >= 12, `${boundaries} boundaries`);
    for (let k = 1; k <= boundaries; k++) {
      const h = await cliHost({ vms: 1 });
      const vm = h.names[0]!;
      try {
        await prepare(h);
        await sleep(300);
        // run the phases, killing the orchestrator right after the k-th finished step
        let seen = 0;
        let fired = false;
        let rerunFrom = phases.length;
        for (const [i, cmd] of phases.entries()) {
          const r = await h.cli([cmd, ...base(h), '--json'], (line, kill) => {
            if (line.includes('"type":"step-end"') && ++seen === k) {
              fired = true;
              kill();
            }
          });
          if (r.signal === 'SIGKILL') {
            rerunFrom = i;
            break;
          }
          assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
          // killed at the command's last step, the command may have exited before the signal landed:
          // then it finished, and the operator goes on with the next one
          if (fired) {
            rerunFrom = i + 1;
            break;
          }
        }
        assert.ok(fired, `killed at boundary ${k}`);
        // the operator re-runs from the command that was killed
        for (const cmd of phases.slice(rerunFrom)) {
          const r = await h.cli([cmd, ...base(h)]);
          assert.equal(r.code, 0, `boundary ${k}, re-run ${cmd}: ${r.stderr}${r.stdout}`);
        }
        await assertRecovered(h, vm, `boundary ${k}`);
      } finally {
        h.cleanup();
      }
    }
  },
);

test('abort after suspend restores the VMs on the running kernel from their saved state', T, async () => {
  const h = await cliHost({ vms: 2 });
  try {
    await prepare(h);
    await sleep(500);
    const s = await h.cli(['suspend', ...base(h)]);
    assert.equal(s.code, 0, s.stderr);
    assert.deepEqual(h.qemuPids(), [], 'suspended VMs have quit');
    const stopped = new Map(h.names.map((vm) => [vm, h.counterInRamFile(vm)]));
    const a = await h.cli(['abort', ...base(h)]);
    assert.equal(a.code, 0, a.stderr + a.stdout);
    assert.match(a.stdout, /abort: done/);
    await sleep(500);
    for (const vm of h.names) {
      const c = await counter(h, vm);
      assert.equal(c.status, 'running');
      assert.ok(c.value > stopped.get(vm)!, `${vm} continued from its saved state`);
    }
    const st = JSON.parse((await h.cli(['status', '--profile', h.profile, '--json'])).stdout) as { finished: boolean };
    assert.equal(st.finished, true);
  } finally {
    h.cleanup();
  }
});

/** The restored QEMU (the one started with -incoming) is SIGKILLed as soon as it has started, before its state is loaded: once. */
const diesOnceAfterRestart = (dir: string): string => `#!/bin/sh
/usr/bin/qemu-system-x86_64 "$@" || exit $?
case " $* " in *" -incoming "*) ;; *) exit 0 ;; esac
[ -e ${dir}/died-once ] && exit 0
touch ${dir}/died-once
while [ $# -gt 1 ]; do [ "$1" = -pidfile ] && kill -9 "$(cat "$2")"; shift; done
exit 0
`;

/** The VM started, counting, then suspended and its kexec phase done (--vmm-only): the counter it was saved with. */
async function upToResume(h: CliHost, vm: string): Promise<bigint> {
  await prepare(h);
  await sleep(500);
  for (const cmd of ['suspend', 'kexec']) assert.equal((await h.cli([cmd, ...base(h)])).code, 0);
  return h.counterInRamFile(vm);
}

/** The VM runs again and counts on from where it was saved: its RAM was kept. */
async function assertContinued(h: CliHost, vm: string, stopped: bigint): Promise<void> {
  await sleep(500);
  const c = await counter(h, vm);
  assert.equal(c.status, 'running');
  assert.ok(c.value > stopped, `continued from the saved state, RAM intact (${stopped} -> ${c.value})`);
}

/** The restored QEMU (the one started with -incoming) starts only after `seconds`: a host too busy to start it sooner. */
const slowRestart = (seconds: number): string => `#!/bin/sh
case " $* " in *" -incoming "*) sleep ${seconds} ;; esac
exec /usr/bin/qemu-system-x86_64 "$@"
`;

/**
 * The restored QEMU (the one started with -incoming) first works for `seconds` (a busy loop: CPU time
 * used, as a QEMU building a large machine on a loaded host), or, while `<dir>/stall` exists, waits
 * without doing anything (as a QEMU stuck in the kernel would), then starts.
 */
const workingThenStall = (dir: string, seconds: number): string => `#!/bin/sh
case " $* " in *" -incoming "*)
  if [ -e ${dir}/stall ]; then sleep 600; fi
  end=$(( $(date +%s) + ${seconds} )); while [ "$(date +%s)" -lt "$end" ]; do :; done ;;
esac
exec /usr/bin/qemu-system-x86_64 "$@"
`;

test(
  "a new QEMU's start is observed, not timed: one that keeps working past migration.timeout (5 s) is waited for; one that makes no progress for 5 s is given up, named, its state kept, and the next resume restores the VM",
  T,
  async () => {
    const dir = tempDir('/var/tmp/lu-observed-');
    const h = await cliHost({ vms: 1, qemuWrapper: workingThenStall(dir, 12), migrationTimeout: '5s' });
    const vm = h.names[0]!;
    try {
      let stopped = await upToResume(h, vm);
      const r = await h.cli(['resume', ...base(h)]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const end = journal(h).findLast((x) => x.type === 'step-end' && x.id === `resume/restart/${vm}`) as
        { outcome?: { startMs?: number } } | undefined;
      assert.ok((end?.outcome?.startMs ?? 0) >= 10_000, `waited while it worked (11-12 s), past the 5 s: ${JSON.stringify(end?.outcome)}`);
      await assertContinued(h, vm, stopped);

      // stuck: given up once it did nothing for 5 s, not at a fixed time
      writeFileSync(join(dir, 'stall'), '');
      for (const cmd of ['suspend', 'kexec']) assert.equal((await h.cli([cmd, ...base(h)])).code, 0);
      stopped = h.counterInRamFile(vm);
      const stuck = await h.cli(['resume', ...base(h)]);
      assert.equal(stuck.code, 3, `stopped part-way, its state kept: ${stuck.stderr}${stuck.stdout}`);
      assert.match(stuck.stdout + stuck.stderr, /QEMU for \S+ did not start \(exit 137\): .*made no progress for 5 s/);
      rmSync(join(dir, 'stall'));
      const again = await h.cli(['resume', ...base(h)]);
      assert.equal(again.code, 0, again.stderr + again.stdout);
      await assertContinued(h, vm, stopped);
    } finally {
      h.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'a new QEMU slow to start (70 s, past the 60 s a start once had) is waited for up to migration.timeout: the VM is restored, not abandoned, and the journal shows the wait',
  T,
  async () => {
    const h = await cliHost({ vms: 1, qemuWrapper: slowRestart(70), migrationTimeout: '180s' });
    const vm = h.names[0]!;
    try {
      const stopped = await upToResume(h, vm);
      const r = await h.cli(['resume', ...base(h)]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const end = journal(h).findLast((x) => x.type === 'step-end' && x.id === `resume/restart/${vm}`) as
        { outcome?: { startMs?: number } } | undefined;
      assert.ok((end?.outcome?.startMs ?? 0) >= 70_000, `the journal shows the wait: ${JSON.stringify(end?.outcome)}`);
      // plain mode (a pipe): the wait is not silent
      assert.match(r.stderr, new RegExp(`… resume/restart/${vm} still running \\(\\d+ s\\): start a new QEMU for ${vm}`));
      await assertContinued(h, vm, stopped);
    } finally {
      h.cleanup();
    }
  },
);

test('the new QEMU dies in the middle of resume: re-running resume starts it again and the VM continues', T, async () => {
  const dir = tempDir('/var/tmp/lu-cli-dies-');
  const h = await cliHost({ vms: 1, qemuWrapper: diesOnceAfterRestart(dir) });
  const vm = h.names[0]!;
  try {
    const stopped = await upToResume(h, vm);
    const r = await h.cli(['resume', ...base(h), '--json']);
    assert.ok(existsSync(join(dir, 'died-once')), 'the restored QEMU was killed');
    assert.equal(r.code, 3, 'resume stops part-way when its QEMU dies: exit 3, its state kept');
    assert.match(r.stdout, new RegExp(`"type":"step-failed","id":"resume/[a-z]+/${vm}"`));
    const again = await h.cli(['resume', ...base(h)]);
    assert.equal(again.code, 0, again.stderr + again.stdout);
    await assertContinued(h, vm, stopped);
  } finally {
    h.cleanup();
  }
});

test('abort after the point of no return refuses and says what resume will do', T, async () => {
  const h = await cliHost({ vms: 1 });
  try {
    // a journal as a real run leaves it once kexec -e has started (the host then rebooted)
    writeJournal(h, [
      {
        type: 'run',
        format: JOURNAL_FORMAT_VERSION,
        runId: 'r1',
        at: 1,
        host: 'clihost',
        profile: h.profile,
        backend: 'pmem',
        bootId: 'b-old',
        vms: [],
      },
      {
        type: 'step-start',
        phase: 'kexec',
        id: 'kexec/kexec-exec',
        at: 2,
        blackout: true,
        marks: { pointOfNoReturn: true },
        bootId: 'b-old',
      },
      {
        type: 'step-end',
        phase: 'kexec',
        id: 'kexec/kexec-exec',
        at: 3,
        ms: 1,
        result: 'ok',
        blackout: true,
        marks: { pointOfNoReturn: true },
      },
      { type: 'step-start', phase: 'kexec', id: 'kexec/verify-boot', at: 4, blackout: true, marks: { provesBoot: true } },
    ]);
    const r = await h.cli(['abort', ...base(h)]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /past the point of no return: kexec -e ran at .* \(from boot b-old\); the old kernel is gone and abort cannot resume the VMs on it/,
    );
    assert.match(r.stderr, /liveupdate resume --profile .* restores them on the new kernel \(unfinished: kexec\/verify-boot\)/);
    const st = JSON.parse((await h.cli(['status', '--profile', h.profile, '--json'])).stdout) as {
      pointOfNoReturnPassed: boolean;
      inFlight: string[];
    };
    assert.equal(st.pointOfNoReturnPassed, true);
    assert.deepEqual(st.inFlight, ['kexec/verify-boot']);
  } finally {
    h.cleanup();
  }
});

test('the host rebooted again after the kexec (power loss): resume gives a correct account of what was lost', T, async () => {
  const h = await cliHost({ vms: 1 });
  try {
    // the journal as a run leaves it after verify-boot proved the kexec's boot; this machine's boot differs
    const vm = h.names[0]!;
    writeJournal(h, [
      {
        type: 'run',
        format: JOURNAL_FORMAT_VERSION,
        runId: 'r1',
        at: 1,
        host: 'clihost',
        profile: h.profile,
        backend: 'pmem',
        bootId: 'b-old',
        vms: [{ name: vm, qmp: h.qmp(vm) }],
      },
      {
        type: 'step-start',
        phase: 'kexec',
        id: 'kexec/kexec-exec',
        at: 2,
        blackout: true,
        marks: { pointOfNoReturn: true },
        bootId: 'b-old',
      },
      {
        type: 'step-end',
        phase: 'kexec',
        id: 'kexec/kexec-exec',
        at: 3,
        ms: 1,
        result: 'ok',
        blackout: true,
        marks: { pointOfNoReturn: true },
      },
      { type: 'step-start', phase: 'kexec', id: 'kexec/verify-boot', at: 4, blackout: true, marks: { provesBoot: true } },
      {
        type: 'step-end',
        phase: 'kexec',
        id: 'kexec/verify-boot',
        at: 5,
        ms: 1,
        result: 'ok',
        blackout: true,
        marks: { provesBoot: true },
        outcome: { bootId: 'b-kexec', previousBootId: 'b-old' },
      },
    ]);
    const r = await h.cli(['resume', ...base(h)]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `rebooted again after the live update's kexec \\(now boot [0-9a-f-]+, the kexec's boot was b-kexec\\): memory kept across a kexec does not survive a reboot or power loss, so the guest RAM of ${vm} is lost; those VMs cannot be resumed and must be cold-booted\\. Nothing was done\\.`,
      ),
    );
    assert.deepEqual(h.qemuPids(), [], 'nothing was started');
  } finally {
    h.cleanup();
  }
});

test(
  'a VMM-only update of VMs that run on the QEMU that would restore them has nothing to do: exit 0, no VM touched, no journal; --force updates them',
  T,
  async () => {
    const h = await cliHost({ vms: 1 });
    try {
      await prepare(h);
      // facts probed now: the VM runs, on the profile's (and restoring) QEMU
      await h.refreshFacts();
      const pids = h.qemuPids();
      const plan = await h.cli(['plan', ...base(h), '--detailed-exitcode']);
      assert.equal(plan.code, 0, plan.stderr + plan.stdout);
      assert.match(plan.stdout, /Nothing to do: every VM runs on the QEMU that would restore it/);
      const run = await h.cli(['run', '--phase', 'update', '--yes', ...base(h)]);
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.match(run.stdout, /^run: nothing to do: every VM runs on the QEMU that would restore it .*no VM was touched/m);
      const json = await h.cli(['run', '--phase', 'update', '--yes', '--json', ...base(h)]);
      const last = JSON.parse(json.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      assert.deepEqual([last['type'], last['ok'], last['changed']], ['result', true, false]);
      assert.match(String(last['upToDate']), /every VM runs on the QEMU that would restore it/);
      assert.deepEqual(h.qemuPids(), pids, 'no QEMU restarted');
      assert.equal(existsSync(join(h.dir, 'journal')), false, 'no run journaled');
      // --force: the update all the same, the plan saying why it was up to date
      const forcedPlan = await h.cli(['plan', ...base(h), '--force', '--detailed-exitcode']);
      assert.equal(forcedPlan.code, 2, forcedPlan.stderr);
      assert.match(forcedPlan.stdout, /forced \(--force\): every VM runs on the QEMU that would restore it/);
      const forced = await h.cli(['run', '--phase', 'update', '--yes', '--force', ...base(h)]);
      assert.equal(forced.code, 0, forced.stderr + forced.stdout);
      assert.notDeepEqual(h.qemuPids(), pids, 'the VMM restarted');
      assert.equal((await counter(h, h.names[0]!)).status, 'running');
    } finally {
      h.cleanup();
    }
  },
);

/** A host whose journal folder is a tmpfs of its own of `size` (a real, small file system: the caller unmounts it before h.cleanup()). */
async function journalOnTmpfs(size: string): Promise<{ h: CliHost; dir: string }> {
  const h = await cliHost({ vms: 1 });
  const dir = join(h.dir, 'journal');
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'lu-journal', dir]);
  return { h, dir };
}

test(
  "the journal's disk fills inside the blackout window: the reserve beside the journal is given back, the window is recorded to its end and the VM runs; the run stops saying so (exit 3); with room again the same command finishes it",
  T,
  async () => {
    // the journal's own file system, small: the run's 1 MiB reserve and its records fit, then a filler takes the rest
    const { h, dir } = await journalOnTmpfs('1400k');
    try {
      await prepare(h);
      const vm = h.names[0]!;
      let filled = false;
      const args = ['run', '--phase', 'update', '--yes', '--json', ...base(h)];
      const r = await h.cli(args, (line) => {
        // the window has opened (the VM is being paused): fill the disk to its last block
        if (!filled && line.includes(`"type":"step-start","id":"suspend/stop/${vm}"`)) {
          filled = true;
          spawnSync('dd', ['if=/dev/zero', `of=${dir}/filler`, 'bs=4k']);
        }
      });
      assert.ok(filled, 'the disk was filled inside the window');
      assert.equal(r.code, 3, r.stderr + r.stdout.slice(-2000));
      const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: boolean; failures: Array<{ code: string; message: string }> };
      assert.equal(last.ok, false);
      assert.equal(last.failures[0]?.code, 'JOURNAL_FULL', JSON.stringify(last.failures));
      assert.match(
        last.failures[0]?.message ?? '',
        /not started: the journal's disk \(\S+\) is full \(.*\); its reserve was freed so that the blackout window is recorded to its end; no VM is paused by it/,
      );
      // nothing lost: every record whole, the window to its end (the VM's cont), the VM running
      const recs = journal(h);
      assert.ok(
        recs.some((x) => x.type === 'step-end' && x.id === `resume/cont/${vm}`),
        'the window was recorded to its end',
      );
      assert.ok(!existsSync(join(dir, 'clihost.journal.reserve')), 'the reserve was spent');
      const c = await counter(h, vm);
      assert.equal(c.status, 'running');
      // room again: the same command finishes the run from its journal
      rmSync(join(dir, 'filler'));
      const again = await h.cli(args);
      assert.equal(again.code, 0, again.stderr + again.stdout.slice(-2000));
      assert.equal(journal(h).filter((x) => x.type === 'done').length, 1);
      assert.ok(!existsSync(join(dir, 'clihost.journal.reserve')), 'a finished run leaves no reserve');
      await assertRecovered(h, vm, 'after the full disk');
    } finally {
      spawnSync('umount', ['-l', dir]);
      h.cleanup();
    }
  },
);

test('a journal disk without room for a run and its reserve: the run is refused before anything changes', T, async () => {
  const { h, dir } = await journalOnTmpfs('512k');
  try {
    await prepare(h);
    const pids = h.qemuPids();
    const r = await h.cli(['run', '--phase', 'update', '--yes', ...base(h)]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /has no room for a run's journal and its 1 MiB reserve \(.*\); nothing was done/);
    assert.deepEqual(h.qemuPids(), pids, 'no VM touched');
    assert.deepEqual(readdirSync(dir), [], 'nothing written');
  } finally {
    spawnSync('umount', ['-l', dir]);
    h.cleanup();
  }
});

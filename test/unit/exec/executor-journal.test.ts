// The executor's rules for resuming from its write-ahead journal, against a host double.
// TEST DOUBLE: `FakeKernelHost` is an in-memory Host that records every argv it is asked to run,
// answers boot_id and /proc/cmdline, and moves to a new boot when `kexec -e` is started. The plans
// are made by hand (exec steps, the jump, the boot proof), so only the executor's own rules are
// under test; the same rules against real QEMU and a real kexec are in test/integration and test/lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { ExecOptions, ExecResult, Host } from '../../../src/host/host.js';
import { execute, executeGuarded } from '../../../src/exec/executor.js';
import { Journal, journalEvents, type JournalRecord } from '../../../src/exec/journal.js';
import type { ExecEvent } from '../../../src/exec/events.js';
import { PLAN_FORMAT_VERSION, type Plan, type Step } from '../../../src/plan/types.js';
import type { LiveupdateError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/temp.js';

class FakeKernelHost implements Host {
  readonly name = 'fake';
  readonly local = false;
  boot = 'boot-1';
  ran: string[] = [];
  /** argv[0]s that fail (exit 1) */
  failing = new Set<string>();
  /** called with each command as it runs (a test sends its Ctrl-C from here) */
  onRun: (line: string) => void = () => undefined;
  exec(argv: string[], _opts?: ExecOptions): Promise<ExecResult> {
    const line = argv.join(' ');
    if (line === 'cat /proc/sys/kernel/random/boot_id') return ok(`${this.boot}\n`);
    if (line === 'cat /proc/cmdline') return ok('console=ttyS0 liveupdate\n');
    // the boot proof's one read: the command line, uname -r, uname -v
    if (line === 'sh -c cat /proc/cmdline; uname -r; uname -v') return ok('console=ttyS0 liveupdate\n6.1.0-test\n#1 SMP test\n');
    this.ran.push(line);
    this.onRun(line);
    if (argv[0] === 'sh' && argv.includes('kexec')) this.boot = `boot-${Number(this.boot.split('-')[1]) + 1}`;
    if (this.failing.has(argv[0]!)) return Promise.resolve({ stdout: '', stderr: `${argv[0]} failed`, exitCode: 1 });
    return ok('');
  }
  connectUnix(): Promise<Duplex> {
    return Promise.reject(new Error('no QMP in this double'));
  }
  put(): Promise<void> {
    return Promise.resolve();
  }
  fetch(): Promise<Buffer> {
    return Promise.resolve(Buffer.alloc(0));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
const ok = (stdout: string): Promise<ExecResult> => Promise.resolve({ stdout, stderr: '', exitCode: 0 });

function exec(id: string, argv: string[], more: Partial<Step> = {}): Step {
  return {
    id,
    phase: id.split('/')[0] as Step['phase'],
    description: id,
    blackout: false,
    idempotent: true,
    check: null,
    kind: 'exec',
    argv,
    ...more,
  } as Step;
}

/** prepare -> suspend (one step that must not run twice) -> flush, jump, prove the boot -> resume. */
function kernelPlan(bootId: string): Plan {
  return {
    formatVersion: PLAN_FORMAT_VERSION,
    host: 'fake',
    profile: '/p.yaml',
    backend: 'pmem',
    facts: { hostname: 'fake', bootId, kernelRelease: '6.1', collectedAt: '2026-01-01T00:00:00Z' },
    phases: ['prepare', 'suspend', 'kexec', 'resume'],
    update: 'kernel',
    kexecCmdline: 'console=ttyS0 liveupdate',
    vms: [],
    steps: [
      exec('prepare/mkdir', ['mkdir', '-p', '/x']),
      exec('suspend/once', ['once'], { idempotent: false, blackout: true }),
      exec('kexec/flush', ['sync'], { blackout: true, marks: { flushJournal: true } }),
      {
        id: 'kexec/jump',
        phase: 'kexec',
        description: 'jump',
        blackout: true,
        idempotent: false,
        pointOfNoReturn: true,
        check: { kind: 'boot-changed' },
        kind: 'kexec-exec',
        argv: ['kexec', '-e'],
      },
      {
        id: 'kexec/proof',
        phase: 'kexec',
        description: 'proof',
        blackout: true,
        idempotent: true,
        check: null,
        marks: { provesBoot: true },
        kind: 'verify',
        verify: { kind: 'boot-changed', params: ['liveupdate'], timeoutMs: 5000 },
      },
      exec('resume/after', ['after'], { blackout: true }),
    ],
    warnings: [],
    notes: [],
  };
}

function journalAt(): { file: string; open: () => Journal; records: () => JournalRecord[] } {
  const file = join(tempDir('/tmp/lu-exec-unit-'), 'fake.journal');
  return {
    file,
    open: () => Journal.open(file),
    records: () =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as JournalRecord),
  };
}

/** A journal left by an earlier run of `profile` on boot-1 that wrote `records` and then died. */
function leftBy(runId: string, records: JournalRecord[], profile = '/p.yaml'): Journal {
  const j = journalAt().open();
  j.begin({ runId, at: 1, host: 'fake', profile, backend: 'pmem', bootId: 'boot-1', vms: [] });
  for (const r of records) j.append(r, true);
  j.close();
  return Journal.open(j.file);
}

async function run(
  host: FakeKernelHost,
  plan: Plan,
  journal: Journal,
  stop?: AbortSignal,
): Promise<Awaited<ReturnType<typeof execute>> & { events: ExecEvent[] }> {
  const events: ExecEvent[] = [];
  try {
    return {
      ...(await execute({ plan, host, journal, emit: (e) => events.push(e), liveBootId: host.boot, ...(stop ? { stop } : {}) })),
      events,
    };
  } finally {
    journal.close();
  }
}

test('a full run: every step once, the jump records the boot it leaves with its marks, the proof records the new boot', async () => {
  const host = new FakeKernelHost();
  const j = journalAt();
  const r = await run(host, kernelPlan('boot-1'), j.open());
  assert.equal(r.ok, true, JSON.stringify(r.failures));
  assert.deepEqual(host.ran, [
    'mkdir -p /x',
    'once',
    'sync',
    'sh -c (sleep 0.2; exec "$@") </dev/null >/dev/null 2>&1 & sh kexec -e',
    'after',
  ]);
  const jump = j.records().find((x) => x.type === 'step-start' && x.id === 'kexec/jump');
  assert.deepEqual(jump && jump.type === 'step-start' ? [jump.bootId, jump.marks] : [], ['boot-1', { pointOfNoReturn: true }]);
  const proof = j.records().find((x) => x.type === 'step-end' && x.id === 'kexec/proof');
  assert.equal(proof && proof.type === 'step-end' ? proof.outcome?.['bootId'] : undefined, 'boot-2');
  assert.ok(r.events.every((e) => e.type !== 'step-failed'));
});

test('resumed: steps the journal has done are not run again; the plan of the old boot applies after the recorded jump', async () => {
  const host = new FakeKernelHost();
  host.failing.add('after');
  const j = journalAt();
  const first = await run(host, kernelPlan('boot-1'), j.open());
  assert.equal(first.ok, false);
  assert.deepEqual(
    first.failures.map((f) => f.id),
    ['resume/after'],
  );
  host.failing.clear();
  host.ran = [];
  // the host is on boot-2 now; the plan was made on boot-1: allowed, because the journal recorded the jump from boot-1
  const second = await run(host, kernelPlan('boot-1'), j.open());
  assert.equal(second.ok, true, JSON.stringify(second.failures));
  assert.deepEqual(host.ran, ['after']);
  assert.deepEqual(second.fromJournal, ['prepare/mkdir', 'suspend/once', 'kexec/flush', 'kexec/jump', 'kexec/proof']);
});

test('a plan of another boot with no recorded jump is refused before anything runs', async () => {
  const host = new FakeKernelHost();
  host.boot = 'boot-7';
  const j = journalAt();
  await assert.rejects(
    run(host, kernelPlan('boot-1'), j.open()),
    (e: LiveupdateError) => e.code === 'FACTS_MISMATCH' && /made from facts of boot boot-1, but fake is on boot boot-7/.test(e.message),
  );
  assert.deepEqual(host.ran, []);
});

test('a step started but never recorded finished: repeated when idempotent, refused when not', async () => {
  // the orchestrator died inside suspend/once (not idempotent, no check): nothing more may run
  const host = new FakeKernelHost();
  const died = leftBy('r1', [
    { type: 'step-end', phase: 'prepare', blackout: false, id: 'prepare/mkdir', at: 2, ms: 1, result: 'ok' },
    { type: 'step-start', phase: 'suspend', blackout: false, id: 'suspend/once', at: 3 },
  ]);
  await assert.rejects(
    run(host, kernelPlan('boot-1'), died),
    (e: LiveupdateError) =>
      e.code === 'JOURNAL_CONFLICT' &&
      /suspend\/once was started but never recorded finished, and repeating it is not safe/.test(e.message),
  );
  assert.deepEqual(host.ran, []);

  // died inside prepare/mkdir instead (idempotent): it runs again, and the run goes on
  const r = await run(
    host,
    kernelPlan('boot-1'),
    leftBy('r2', [{ type: 'step-start', phase: 'prepare', blackout: false, id: 'prepare/mkdir', at: 2 }]),
  );
  assert.equal(r.ok, true, JSON.stringify(r.failures));
  assert.equal(host.ran[0], 'mkdir -p /x');
});

test('a reboot after the jump: the run says the RAM is lost and does nothing', async () => {
  const host = new FakeKernelHost();
  host.failing.add('after');
  const j = journalAt();
  await run(host, kernelPlan('boot-1'), j.open());
  host.boot = 'boot-9'; // power loss: not the boot the proof recorded
  host.ran = [];
  host.failing.clear();
  await assert.rejects(run(host, kernelPlan('boot-1'), j.open()), (e: LiveupdateError) =>
    /rebooted again after the live update's kexec \(now boot boot-9, the kexec's boot was boot-2\)/.test(e.message),
  );
  assert.deepEqual(host.ran, []);
});

test('a journal of another profile is not continued', async () => {
  const host = new FakeKernelHost();
  await assert.rejects(
    run(host, kernelPlan('boot-1'), leftBy('r3', [], '/other.yaml')),
    (e: LiveupdateError) => e.code === 'JOURNAL_CONFLICT' && /unfinished run r3 for \/other\.yaml/.test(e.message),
  );
});

test('an unfinished run journaled in another format is not continued: the version that started it finishes it', async () => {
  const host = new FakeKernelHost();
  const j = journalAt();
  const old = j.open();
  old.append(
    { type: 'run', format: 1, runId: 'r4', at: 1, host: 'fake', profile: '/p.yaml', backend: 'pmem', bootId: 'boot-1', vms: [] },
    true,
  );
  old.close();
  await assert.rejects(
    run(host, kernelPlan('boot-1'), j.open()),
    (e: LiveupdateError) =>
      e.code === 'JOURNAL_CONFLICT' && /unfinished run r4 journaled in format 1; this liveupdate writes format 3/.test(e.message),
  );
  assert.deepEqual(host.ran, []);
});

test('a format-2 journal (records under `t`) is read in the event shape: status and blackouts of an earlier run still work, its unfinished run is not continued', async () => {
  const file = join(tempDir('/tmp/lu-j2-'), 'fake.journal');
  const v2 = [
    {
      t: 'run',
      format: 2,
      runId: 'r5',
      at: 1,
      host: 'fake',
      profile: '/p.yaml',
      backend: 'pmem',
      bootId: 'boot-1',
      vms: [{ name: 'vm', qmp: '/run/vm.qmp' }],
    },
    { t: 'start', id: 'suspend/stop/vm', at: 10, vm: 'vm', blackout: true, marks: { blackoutStart: true } },
    { t: 'end', id: 'suspend/stop/vm', at: 11, ms: 1, result: 'ok', vm: 'vm', blackout: true, marks: { blackoutStart: true } },
    { t: 'fail', id: 'resume/cont/vm', at: 40, ms: 2, code: 'QMP_ERROR', message: 'no', phase: 'resume', vm: 'vm', blackout: true },
  ];
  writeFileSync(file, v2.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const recs = Journal.read(file);
  assert.deepEqual(
    recs.map((r) => r.type),
    ['run', 'step-start', 'step-end', 'step-failed'],
  );
  const events = journalEvents(recs);
  assert.deepEqual(
    events.map((e) => [e.type, e.phase, e.blackout]),
    [
      ['step-start', 'resume', true],
      ['step-end', 'resume', true],
      ['step-failed', 'resume', true],
    ],
  );
  const host = new FakeKernelHost();
  await assert.rejects(
    run(host, kernelPlan('boot-1'), Journal.open(file)),
    (e: LiveupdateError) => e.code === 'JOURNAL_CONFLICT' && /journaled in format 2/.test(e.message),
  );
  assert.deepEqual(host.ran, []);
});

test('continued after the jump (the agent at boot, with the whole plan): the jump is found done, and a QEMU a later step quit on purpose is not taken for one that died', async () => {
  // the double has no QMP, so every QEMU looks gone: only the journal's quit tells the two apart
  const host = new FakeKernelHost();
  const base = kernelPlan('boot-1');
  const vmStep = { vm: 'vm', blackout: false, idempotent: true, check: null };
  const plan: Plan = {
    ...base,
    steps: [
      {
        ...vmStep,
        id: 'prepare/start/vm',
        phase: 'prepare',
        timeoutMs: 60_000,
        description: 'start',
        kind: 'qemu-start',
        argv: ['qemu', '-name', 'vm'],
        pidfile: '/run/vm.pid',
        incoming: false,
        socket: '/run/vm.qmp',
      },
      {
        ...vmStep,
        id: 'suspend/quit/vm',
        phase: 'suspend',
        description: 'quit',
        blackout: true,
        check: { kind: 'vm-gone', vm: 'vm' },
        kind: 'qmp',
        socket: '/run/vm.qmp',
        command: 'quit',
      },
      ...base.steps.filter((s) => s.phase === 'kexec'),
      exec('resume/after', ['after'], { blackout: true, vm: 'vm' }),
    ],
  };
  const j = leftBy('r5', [
    { type: 'step-end', phase: 'prepare', blackout: false, id: 'prepare/start/vm', at: 2, ms: 1, result: 'ok', vm: 'vm' },
    { type: 'step-end', phase: 'suspend', blackout: false, id: 'suspend/quit/vm', at: 3, ms: 1, result: 'ok', vm: 'vm' },
    { type: 'step-end', phase: 'kexec', blackout: false, id: 'kexec/flush', at: 4, ms: 1, result: 'ok' },
    { type: 'step-start', phase: 'kexec', blackout: false, id: 'kexec/jump', at: 5, bootId: 'boot-1', marks: { pointOfNoReturn: true } },
  ]);
  host.boot = 'boot-2';
  const r = await run(host, plan, j);
  assert.equal(r.ok, true, JSON.stringify(r.failures));
  assert.deepEqual(host.ran, ['after'], 'neither the first QEMU nor kexec -e runs again');
  assert.equal(r.events.find((e) => e.type === 'step-end' && e.id === 'kexec/jump' && e.result === 'already-done')?.id, 'kexec/jump');
});

// Ctrl-C and SIGTERM (issue 18, class 11): between steps, never inside a blackout window

/** The kernel plan with a step after the window closes (outside any blackout). */
function planWithAfterwards(bootId: string): Plan {
  const p = kernelPlan(bootId);
  return { ...p, steps: [...p.steps, exec('resume/tidy', ['tidy'])] };
}

test('interrupted before anything ran: no step starts, the failure says so, nothing is left paused', async () => {
  const host = new FakeKernelHost();
  const stop = new AbortController();
  stop.abort('interrupted');
  const r = await run(host, planWithAfterwards('boot-1'), journalAt().open(), stop.signal);
  assert.equal(r.ok, false);
  assert.deepEqual(
    r.failures.map((f) => [f.id, f.code]),
    [['prepare/mkdir', 'INTERRUPTED']],
  );
  assert.deepEqual(host.ran, []);
  assert.ok(!r.events.some((e) => e.type === 'step-start'), 'no step started');
});

test('interrupted inside the blackout window: the window runs to its end (the VM runs again), then the run stops', async () => {
  const host = new FakeKernelHost();
  const stop = new AbortController();
  host.onRun = (line) => line === 'once' && stop.abort('interrupted');
  const r = await run(host, planWithAfterwards('boot-1'), journalAt().open(), stop.signal);
  assert.deepEqual(host.ran, [
    'mkdir -p /x',
    'once',
    'sync',
    'sh -c (sleep 0.2; exec "$@") </dev/null >/dev/null 2>&1 & sh kexec -e',
    'after',
  ]);
  assert.deepEqual(
    r.failures.map((f) => [f.id, f.code]),
    [['resume/tidy', 'INTERRUPTED']],
  );
});

test('interrupted before the jump with an abort plan: what was begun is aborted; after the jump: never', async () => {
  const abortPlan: Plan = { ...kernelPlan('boot-1'), phases: ['abort'], steps: [exec('abort/undo', ['undo'])] };
  // before: the interruption lands between prepare and suspend
  const host = new FakeKernelHost();
  const stop = new AbortController();
  const plan: Plan = {
    ...kernelPlan('boot-1'),
    steps: [exec('prepare/mkdir', ['mkdir', '-p', '/x']), exec('suspend/stage', ['stage']), ...kernelPlan('boot-1').steps.slice(1)],
  };
  host.onRun = (line) => line === 'mkdir -p /x' && stop.abort('interrupted');
  const j = journalAt();
  const r = await executeGuarded(plan, abortPlan, async (p) => {
    const journal = Journal.open(j.file);
    try {
      return await execute({
        plan: p,
        host,
        journal,
        emit: () => undefined,
        liveBootId: host.boot,
        ...(p === plan ? { stop: stop.signal } : {}),
      });
    } finally {
      journal.close();
    }
  });
  assert.deepEqual(host.ran, ['mkdir -p /x', 'undo']);
  assert.equal(r.aborted?.ok, true);
  // after: interrupted once the jump ran (the tidy step after the window): no abort plan
  const host2 = new FakeKernelHost();
  const stop2 = new AbortController();
  host2.onRun = (line) => line === 'after' && stop2.abort('interrupted');
  const j2 = journalAt();
  const r2 = await executeGuarded(planWithAfterwards('boot-1'), abortPlan, async (p) => {
    const journal = Journal.open(j2.file);
    try {
      return await execute({ plan: p, host: host2, journal, emit: () => undefined, liveBootId: host2.boot, stop: stop2.signal });
    } finally {
      journal.close();
    }
  });
  assert.equal(r2.aborted, undefined);
  assert.ok(!host2.ran.includes('undo'));
});

test('a record torn by a kill inside its write: reading skips it, and the next run cuts it off before it appends, so no line in the middle is unreadable', () => {
  const file = join(tempDir('/tmp/lu-journal-torn-'), 'h.journal');
  const j = Journal.open(file);
  j.begin({ runId: 'r1', at: 1, host: 'h', profile: 'p.yaml', backend: 'pmem', bootId: 'b1', vms: [] });
  j.close();
  const whole = readFileSync(file, 'utf8');
  // what a SIGKILL inside the write of a large record leaves: part of a line, no newline
  writeFileSync(file, `${whole}{"type":"phase","at":2,"phases":["susp`);
  assert.equal(Journal.read(file).length, 1, 'the torn line is no record');
  const again = Journal.open(file);
  again.append({ type: 'done', at: 3, how: 'resumed' }, true);
  again.close();
  const records = Journal.read(file);
  assert.deepEqual(
    records.map((r) => r.type),
    ['run', 'done'],
  );
  assert.equal(readFileSync(file, 'utf8'), `${whole}{"type":"done","at":3,"how":"resumed"}\n`);
});

// The agent compares the facts a plan was made from with the host as it reads now, before it runs
// anything. Real: this machine's own fact probe (LocalHost), the agent's runRequest in this process
// (and once the agent's bundle as its own process) with a spool folder, a journal and a lock of this
// test, and a one-step plan made by hand whose step leaves a file behind ("nothing ran" is on disk).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { runRequest } from '../../src/agent/agent.js';
import type { AgentRequest, AgentResult } from '../../src/agent/request.js';
import { gatherFacts, probeFacts } from '../../src/facts/gather.js';
import type { HostFacts } from '../../src/facts/types.js';
import { LocalHost } from '../../src/host/local.js';
import { PLAN_FORMAT_VERSION, type Plan } from '../../src/plan/types.js';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('/var/tmp/lu-agent-facts-');

/** A request whose one-step plan leaves a mark; `dependsOn` adds a step that names a path (so its mounts matter). */
function spoolFor(
  facts: HostFacts | undefined,
  name: string,
  dependsOn?: string,
  vms: Array<{ name: string; pidfile: string }> = [],
): { spool: string; marker: string; journal: string } {
  const spool = join(dir, 'runs', name);
  mkdirSync(spool, { recursive: true });
  const marker = join(dir, `${name}.ran`);
  const journal = join(dir, `${name}.journal`);
  const plan: Plan = {
    formatVersion: PLAN_FORMAT_VERSION,
    host: 'local',
    profile: '/p.yaml',
    backend: 'pmem',
    facts: {
      hostname: 'local',
      bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
      kernelRelease: '',
      collectedAt: '',
    },
    phases: ['prepare'],
    update: 'vmm',
    kexecCmdline: '',
    // only their names and pidfiles matter here: the agent asks the host for those VMs again
    vms: vms.map((v) => v as Plan['vms'][number]),
    steps: [
      {
        id: 'prepare/touch',
        phase: 'prepare',
        description: 'leave a mark',
        blackout: false,
        idempotent: true,
        check: null,
        kind: 'exec',
        argv: ['touch', marker],
      },
      ...(dependsOn
        ? [
            {
              id: 'prepare/look',
              phase: 'prepare' as const,
              description: 'look',
              blackout: false,
              idempotent: true,
              check: null,
              kind: 'exec' as const,
              argv: ['mountpoint', '-q', dependsOn],
            },
          ]
        : []),
    ],
    warnings: [],
    notes: [],
  };
  const req: AgentRequest = {
    requestId: randomUUID(),
    who: 'test@here',
    at: Date.now(),
    command: 'prepare',
    plan,
    ...(facts ? { facts } : {}),
    journal,
    helper: '/nonexistent',
  };
  writeFileSync(join(spool, 'request.json'), JSON.stringify(req));
  return { spool, marker, journal };
}
const resultOf = (spool: string): AgentResult => JSON.parse(readFileSync(join(spool, 'result.json'), 'utf8')) as AgentResult;

// (other test files running at the same time mount and unmount file systems of their own on this
// machine: mounts the plan does not name are not compared, as on a host)
test('facts probed a moment ago and probed again by the agent read the same: the plan runs', async () => {
  const s = spoolFor(await gatherFacts(new LocalHost(), undefined), 'same');
  assert.equal(await runRequest(s.spool), 0, JSON.stringify(resultOf(s.spool)));
  assert.ok(existsSync(s.marker));
});

test("facts that looked for the profile's VMs and found none running read the same when the agent looks for them again: the plan runs", async () => {
  // the plan's VMs are the ones the agent asks for (the facts keep only the VMs found running)
  const names = [{ name: `lu-none-${process.pid}`, pidfile: `/run/liveupdate/vms/lu-none-${process.pid}/qemu.pid` }];
  const facts = await probeFacts(new LocalHost(), { qemu: ['/usr/bin/qemu-system-x86_64'], files: [], vms: names });
  assert.deepEqual(facts.vms, [], 'looked, none running');
  const s = spoolFor(facts, 'no-vms', undefined, names);
  assert.equal(await runRequest(s.spool), 0, JSON.stringify(resultOf(s.spool)));
  assert.ok(existsSync(s.marker));
});

test('the host changed between the plan and the agent: refused, naming what changed, and nothing ran', async () => {
  const facts = await gatherFacts(new LocalHost(), undefined);
  // the plan was made when the host had one more mount and another kernel command line
  const then = {
    ...facts,
    cmdline: `${facts.cmdline} made-up-by-this-test`,
    mounts: [...facts.mounts, { source: '/dev/pmem9', target: '/mnt/made-up', fstype: 'ext4', options: ['rw', 'dax'] }],
  };
  const s = spoolFor(then, 'changed', '/mnt/made-up');
  assert.equal(await runRequest(s.spool), 2);
  const r = resultOf(s.spool);
  assert.equal(r.state, 'refused');
  assert.ok(r.state === 'refused' && r.code === 'FACTS_MISMATCH');
  assert.match(
    r.message,
    /the host changed since the plan was made .*cmdline: ".* made-up-by-this-test" -> ".*"; mounts: \/mnt\/made-up unmounted/,
  );
  assert.equal(existsSync(s.marker), false, 'the step did not run');
  assert.equal(existsSync(s.journal), false, 'no journal was begun');
  assert.equal(existsSync(`${s.journal}.lock`), false, 'the lock was released');
});

test('a plan made from a facts file carries no probed facts: the agent runs it and says it could not compare', () => {
  const s = spoolFor(undefined, 'file');
  // the agent as the host runs it (the bundle, a process of its own), so its log is what it printed
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/agent/liveupdate-agent.cjs'), 'run', s.spool], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const said = [r.stdout];
  assert.ok(existsSync(s.marker));
  assert.match(said.join(''), /the plan was made from a facts file \(--facts\): the host's facts are not compared with it/);
});

/**
 * Hosts of a loopback fleet (test/helpers/cli-host.ts, each this machine): their VMs started as a
 * `prepare` would, and what a test reads of them (the VMM's pid, the guest's counter). Used by the
 * fleet's and the Ansible collection's tests over real sshd.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { QmpClient } from '../../src/qemu/qmp.js';
import { LocalHost } from '../../src/host/local.js';
import { readCounter } from '../../src/lab/counter.js';
import { makePlan } from '../../src/plan/planner.js';
import { requireProfile } from '../../src/profile/load.js';
import { readFactsFile } from '../../src/facts/file.js';
import { runSteps } from '../../src/exec/engine.js';
import { QmpPool } from '../../src/qemu/pool.js';
import type { CliHost } from './cli-host.js';
import { vmStartSteps } from './local-qemu.js';

/** The host was prepared earlier and its VMs run (the update under test suspends and resumes them). */
export async function startVms(h: CliHost): Promise<void> {
  const profile = requireProfile(h.profile);
  const plan = makePlan({ profile: profile.profile, facts: await readFactsFile(h.facts), phases: 'prepare', locate: profile.locate });
  const host = new LocalHost();
  const env = {
    host,
    qmp: new QmpPool(host),
    outcomes: new Map(),
    vars: Object.fromEntries(plan.vms.map((v) => [`qmp.${v.name}`, v.qmp])),
  };
  const r = await runSteps(vmStartSteps(plan.steps), env, () => undefined);
  await env.qmp.closeAll();
  assert.ok(r.ok, JSON.stringify(r.failures.map((f) => f.error.message)));
}

export function qemuPid(h: CliHost): number {
  return Number(readFileSync(`${h.dir}/run/vms/${h.names[0]}/qemu.pid`, 'utf8').trim());
}

export async function counter(h: CliHost): Promise<bigint> {
  const c = await QmpClient.over(await new LocalHost().connectUnix(h.qmp(h.names[0]!)), 'counter', 10_000);
  try {
    return (await readCounter(c)).value;
  } finally {
    await c.close();
  }
}

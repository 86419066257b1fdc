// Saved plans, the pure part: what binds and what is stale. Plans of the shipped profiles and facts (no double).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { LiveupdateError } from '../../../src/errors.js';
import { readFactsFile } from '../../../src/facts/file.js';
import { makePlan } from '../../../src/plan/planner.js';
import { boundPlan, savePlan, type SavedPlan } from '../../../src/plan/saved.js';
import type { HostFacts } from '../../../src/facts/types.js';
import { requireProfile } from '../../../src/profile/load.js';
import { ROOT } from '../../helpers/paths.js';

async function plans(profileFile: string, edit: (f: HostFacts) => HostFacts = (f) => f) {
  const { profile, locate, sha256 } = requireProfile(profileFile);
  const facts = edit(await readFactsFile(join(ROOT, 'profiles/facts/pmem-host.json')));
  return {
    sha256,
    plan: makePlan({ profile, facts, phases: 'all', locate }),
    abortPlan: makePlan({ profile, facts, phases: 'abort', locate }),
  };
}

const stale = (fn: () => unknown, message: RegExp): void =>
  assert.throws(
    fn,
    (e: unknown) =>
      e instanceof LiveupdateError && e.code === 'PLAN_STALE' && message.test(e.message) && /nothing was done/.test(e.message),
  );

test('planning again from the same profile and facts binds, whatever the collection time and however the profile path was written', async () => {
  const then = await plans('profiles/pmem-stock.yaml');
  const saved = JSON.parse(
    JSON.stringify(savePlan(then.plan, then.abortPlan, 'all', resolve('profiles/pmem-stock.yaml'), then.sha256, new Date(0))),
  ) as SavedPlan;
  const now = await plans(join(ROOT, 'profiles/pmem-stock.yaml'), (f) => ({ ...f, collectedAt: new Date().toISOString() }));
  assert.equal(boundPlan('p.plan', saved, { selection: 'all', profileSha256: now.sha256, ...now }), saved);
});

test('a changed step, a changed abort plan, another boot and another command are each refused by name', async () => {
  const then = await plans('profiles/pmem-stock.yaml');
  const saved = savePlan(then.plan, then.abortPlan, 'all', '/p.yaml', then.sha256, new Date(0));
  const now = (edit: (f: HostFacts) => HostFacts) =>
    plans('profiles/pmem-stock.yaml', edit).then((n) => ({ selection: 'all' as const, profileSha256: n.sha256, ...n }));

  const step = saved.plan.steps.findIndex((s) => s.kind === 'kexec-load');
  const other = await now((f) => f);
  other.plan = {
    ...other.plan,
    steps: other.plan.steps.map((s, i) => (i === step ? { ...s, argv: ['kexec', '-l', '/boot/other'] } : s)),
  } as typeof other.plan;
  stale(
    () => boundPlan('p.plan', saved, other),
    new RegExp(`steps\\[${step}\\]\\.argv\\[\\d\\] \\(${saved.plan.steps[step]!.id.replace('/', '\\/')}\\)`),
  );

  const abort = await now((f) => f);
  abort.abortPlan = { ...abort.abortPlan, steps: abort.abortPlan.steps.slice(1) };
  stale(() => boundPlan('p.plan', saved, abort), /planning again now gives abortPlan\.steps\[0\]/);

  const rebooted = await now((f) => ({ ...f, bootId: '11111111-1111-1111-1111-111111111111' }));
  stale(() => boundPlan('p.plan', saved, rebooted), /the host has booted since this plan was made/);
  stale(
    () => boundPlan('p.plan', saved, { ...other, profileSha256: '0'.repeat(64) }),
    /the profile \/p\.yaml changed since this plan was made/,
  );
  assert.throws(
    () => boundPlan('p.plan', saved, { ...other, selection: 'resume' }),
    /p\.plan is a plan of --phase all: run it with 'liveupdate run --plan p\.plan'/,
  );
});

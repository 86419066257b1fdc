// Saved plans (`plan --out`, then `<phase> --plan`) and the confirmation before the point of no
// return, through the real CLI against this machine: real QEMU, real journal, real files. The only
// double is the facts edit of test/helpers/cli-host.ts; a terminal is a real pseudo-terminal (util-linux
// `script`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliHost, counter, journal, prepare, type CliHost } from '../helpers/cli-host.js';
import { onTerminal } from '../helpers/terminal.js';
import { assertMatchesSchema } from '../helpers/schemas.js';
import type { SavedPlan } from '../../src/plan/saved.js';

const T = { timeout: 600_000 };

const savePlan = async (h: CliHost, phase: string, out: string): Promise<SavedPlan> => {
  const r = await h.cli(['plan', '--profile', h.profile, '--facts', h.facts, '--vmm-only', '--phase', phase, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`saved to ${out}: 'liveupdate ${phase} --plan ${out}'`));
  return JSON.parse(readFileSync(out, 'utf8')) as SavedPlan;
};

test('a saved plan runs exactly: suspend, kexec (VMM restart) and resume each from its own saved plan', T, async () => {
  const h = await cliHost({ vms: 1 });
  try {
    await prepare(h);
    for (const phase of ['suspend', 'kexec', 'resume']) {
      const file = join(h.dir, `${phase}.plan`);
      const saved = await savePlan(h, phase, file);
      assertMatchesSchema('saved-plan', saved, file);
      // no --profile and no --vmm-only: both come from the saved plan
      const r = await h.cli([phase, '--plan', file, '--facts', h.facts, '--json']);
      assert.equal(r.code, 0, `${phase}: ${r.stderr}${r.stdout}`);
      // the event stream, line by line, is what schemas/events.schema.json says
      for (const line of r.stdout.trim().split('\n')) assertMatchesSchema('events', JSON.parse(line));
      const ran = journal(h)
        .filter((x) => x.type === 'step-end' && x.phase === phase)
        .map((x) => (x.type === 'step-end' ? x.id : ''));
      assert.deepEqual(
        ran,
        saved.plan.steps.map((s) => s.id),
        `${phase}: the journal shows the saved plan's steps, in order`,
      );
    }
    const c = await counter(h, h.names[0]!);
    assert.equal(c.status, 'running');
  } finally {
    h.cleanup();
  }
});

test(
  'a stale saved plan is refused and nothing runs: profile edited, host rebooted, facts changed, wrong command, not a plan',
  T,
  async () => {
    const h = await cliHost({ vms: 1 });
    try {
      const file = join(h.dir, 'suspend.plan');
      await savePlan(h, 'suspend', file);
      const factsText = readFileSync(h.facts, 'utf8');
      const profileText = readFileSync(h.profile, 'utf8');
      const refused = async (why: RegExp, code = 1, args = ['suspend', '--plan', file, '--facts', h.facts]): Promise<void> => {
        const r = await h.cli(args);
        assert.equal(r.code, code, r.stderr + r.stdout);
        assert.match(r.stderr, why);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
        assert.equal(existsSync(join(h.dir, 'journal')), false, 'no journal: nothing ran');
        assert.deepEqual(h.qemuPids(), []);
      };

      appendFileSync(h.profile, '# a comment is a change too: the plan is bound to the bytes\n');
      await refused(
        /suspend\.plan: the profile .*profile\.yaml changed since this plan was made \(sha256 [0-9a-f]{12} then, [0-9a-f]{12} now\); nothing was done/,
      );
      writeFileSync(h.profile, profileText);

      const facts = JSON.parse(factsText) as { bootId: string; qemu: Array<{ version?: string }> };
      writeFileSync(h.facts, JSON.stringify({ ...facts, bootId: '00000000-0000-0000-0000-000000000000' }));
      await refused(/the host has booted since this plan was made \(boot [0-9a-f-]{36} then, 00000000-0000-0000-0000-000000000000 now\)/);

      writeFileSync(h.facts, JSON.stringify({ ...facts, qemu: facts.qemu.map((q) => ({ ...q, version: '99.0.0' })) }));
      // QEMU upgraded meanwhile: the save is now cpr-reboot, which the saved plan did not say
      await refused(
        /the host changed since this plan was made: planning again now gives steps\[\d+\]\.arguments \(suspend\/stop\/.*\): \{"mode":"cpr-reboot"\} where the saved plan has none/,
      );
      writeFileSync(h.facts, factsText);

      await refused(/suspend\.plan is a plan of --phase suspend: run it with 'liveupdate suspend --plan/, 64, [
        'run',
        '--plan',
        file,
        '--facts',
        h.facts,
        '--yes',
      ]);
      const kernel = join(h.dir, 'kernel.plan');
      assert.equal((await h.cli(['plan', '--profile', h.profile, '--facts', h.facts, '--phase', 'suspend', '--out', kernel])).code, 0);
      await refused(/--vmm-only with --plan .*kernel\.plan: that plan kexecs a new kernel/, 64, [
        'suspend',
        '--plan',
        kernel,
        '--facts',
        h.facts,
        '--vmm-only',
      ]);
      writeFileSync(join(h.dir, 'not.plan'), '{"type": "plan"}');
      await refused(/not\.plan: not a saved plan/, 64, ['suspend', '--plan', join(h.dir, 'not.plan')]);

      // and the same file, unchanged, still runs
      const r = await h.cli(['suspend', '--plan', file, '--facts', h.facts, '--dry-run']);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      h.cleanup();
    }
  },
);

test('before the point of no return: refused without a terminal and without --yes; on a terminal only "yes" goes on', T, async () => {
  const h = await cliHost({ vms: 1 });
  try {
    // a kernel update (no --vmm-only) whose kernel is not there: were it ever staged, staging fails
    // before anything stops (test safety: this machine is never kexec'd)
    const kernel = join(h.dir, 'no-such-vmlinuz');
    writeFileSync(h.profile, readFileSync(h.profile, 'utf8').replace('kernel: /bin/true', `kernel: ${kernel}`));
    const facts = JSON.parse(readFileSync(h.facts, 'utf8')) as { files: Record<string, number> };
    writeFileSync(h.facts, JSON.stringify({ ...facts, files: { [kernel]: 1 } }));
    const args = ['run', '--profile', h.profile, '--facts', h.facts];

    const piped = await h.cli(args);
    assert.equal(piped.code, 64, piped.stderr);
    assert.match(
      piped.stderr,
      /'run' passes the point of no return at kexec\/kexec-exec .*; no terminal to confirm on: pass --yes to go on; nothing was done/,
    );
    assert.match(piped.stderr, /review first: liveupdate plan --profile .* --out PLAN, then liveupdate run --plan PLAN --yes/);
    const json = await h.cli([...args, '--json']);
    assert.equal(json.code, 64, 'with --json there is no one to ask either');
    assert.equal(existsSync(join(h.dir, 'journal')), false);

    const no = await onTerminal(args, { when: "Only 'yes' goes on: ", type: 'no' });
    assert.equal(no.code, 1, no.out);
    assert.match(no.out, /not confirmed \('no'\); nothing was done/);
    assert.equal(existsSync(join(h.dir, 'journal')), false, 'no journal: nothing ran');
    assert.deepEqual(h.qemuPids(), []);

    const yes = await onTerminal(args, { when: "Only 'yes' goes on: ", type: 'yes' });
    assert.doesNotMatch(yes.out, /not confirmed/);
    assert.ok(
      journal(h).some((r) => r.type === 'run'),
      `"yes" went on: the run began (${yes.out.slice(-400)})`,
    );
    assert.notEqual(yes.code, 0, 'it then failed before the point of no return: this machine has no carve-out and no such kernel');
    assert.ok(!journal(h).some((r) => r.type === 'step-start' && r.marks?.pointOfNoReturn), 'and never reached the kexec');
  } finally {
    h.cleanup();
  }
});

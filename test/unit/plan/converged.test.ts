// Pure logic: a host already where the update would take it has nothing to do (the lab's captured
// facts, edited as a second run would see them; no host).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFactsFile } from '../../../src/facts/file.js';
import type { HostFacts } from '../../../src/facts/types.js';
import { parseProfile } from '../../../src/profile/load.js';
import { makePlan, pendingChanges, type PlanInput } from '../../../src/plan/planner.js';
import { renderPlan } from '../../../src/report/plan-text.js';
import { ROOT } from '../../helpers/paths.js';

const FILE = join(ROOT, 'profiles/lab.yaml');
const { value: profile, locate } = parseProfile(FILE, readFileSync(FILE, 'utf8'));
const BUILD = '#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)';
const plan = (facts: HostFacts, more: Partial<PlanInput> = {}) => makePlan({ profile: profile!, facts, phases: 'all', locate, ...more });

/** The lab as it is after a successful run: the image's kernel runs, with the command line loaded, and the VM runs. */
async function afterRun(): Promise<HostFacts> {
  const f = await readFactsFile(join(ROOT, 'profiles', 'facts', 'lab.json'));
  const first = plan({ ...f, kernelVersion: BUILD });
  return {
    ...f,
    cmdline: first.kexecCmdline,
    kernelVersion: BUILD,
    kexecImage: { path: '/boot/vmlinuz', build: `${f.kernelRelease} (debian-kernel@lists.debian.org) ${BUILD}` },
    vms: [{ name: 'counter', pid: 4242, exe: '/usr/bin/qemu-system-x86_64', version: '7.2.22', machine: 'pc-i440fx-7.2' }],
  };
}

test('the host runs the image loaded, with the command line loaded, its VMs running: nothing to do', async () => {
  const p = plan(await afterRun());
  assert.equal(p.steps.length, 0);
  assert.equal(pendingChanges(p).length, 0);
  assert.match(
    p.upToDate!,
    /^lab runs 6\.1\.0-56-amd64 \(\/boot\/vmlinuz, built '#1 SMP PREEMPT_DYNAMIC Debian 6\.1\.158-1 \(2025-11-09\)'\) with the command line the update would load, and its VM runs$/,
  );
  assert.match(renderPlan(p), /Nothing to do: lab runs 6\.1\.0-56-amd64/);
  // --force plans it all the same
  const forced = plan(await afterRun(), { force: true });
  assert.equal(forced.upToDate, undefined);
  assert.ok(pendingChanges(forced).length > 5);
  // a single phase is a step of an update the journal drives: never cut short
  assert.ok(plan(await afterRun(), { phases: 'kexec' }).steps.length > 0);
  // the same holds after a boot through GRUB, whose words a kexec'd kernel does not have
  const grub = await afterRun();
  grub.cmdline = `BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 ${grub.cmdline}`;
  assert.ok(plan(grub).upToDate);
});

test('anything the update would change, or that the facts cannot show, leaves work to do', async () => {
  const cases: Array<[string, (f: HostFacts) => void]> = [
    ['another build of the same release', (f) => (f.kexecImage!.build = f.kexecImage!.build!.replace('6.1.158-1', '6.1.159-1'))],
    ['another release', (f) => (f.kexecImage!.build = f.kexecImage!.build!.replace('6.1.0-56', '6.1.0-57'))],
    ['an image that is not a bzImage', (f) => (f.kexecImage!.build = null)],
    ['facts that did not read the image', (f) => delete f.kexecImage],
    ['facts that did not read the build', (f) => delete f.kernelVersion],
    ['a word the profile would add', (f) => (f.cmdline = f.cmdline.replace(' memmap=256M!1G', ''))],
    ['a VM down', (f) => (f.vms = [])],
  ];
  for (const [what, edit] of cases) {
    const f = await afterRun();
    edit(f);
    const p = plan(f);
    assert.equal(p.upToDate, undefined, what);
    assert.ok(pendingChanges(p).length > 0, what);
  }
});

test('a VMM-only update converges on the QEMU that would restore each VM', async () => {
  const f = await afterRun();
  const p = plan(f, { update: 'vmm' });
  assert.match(p.upToDate!, /every VM runs on the QEMU that would restore it \(\/usr\/bin\/qemu-system-x86_64: 7\.2\.22\)/);
  // a package upgrade replaced the executable under the running QEMU: that VM has an update to take
  const replaced = await afterRun();
  replaced.vms![0]!.exe += ' (deleted)';
  replaced.vms![0]!.version = '7.2.21';
  assert.equal(plan(replaced, { update: 'vmm' }).upToDate, undefined);
  const down = await afterRun();
  down.vms = [];
  assert.equal(plan(down, { update: 'vmm' }).upToDate, undefined);
});

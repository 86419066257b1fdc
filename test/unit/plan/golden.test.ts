// Golden plans: every example profile against its facts file. UPDATE_GOLDEN=1 rewrites them after a
// reviewed change; the diff in git is the review.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { makePlan, pendingChanges } from '../../../src/plan/planner.js';
import { readFactsFile } from '../../../src/facts/file.js';
import { requireProfile } from '../../../src/profile/load.js';
import { renderPlan } from '../../../src/report/plan-text.js';
import { fixture, profilePath, ROOT } from '../../helpers/paths.js';
import { join } from 'node:path';

const EXAMPLES: Array<[profile: string, facts: string]> = [
  ['seed-pkernfs', 'seed-host'],
  ['pmem-stock', 'pmem-host'],
  ['luo', 'luo-host'],
  ['lab', 'lab'],
];

for (const phase of ['all', 'abort'] as const) {
  for (const [name, factsName] of EXAMPLES) {
    test(`golden plan: ${name} (${phase})`, async () => {
      const { profile, locate } = requireProfile(join('profiles', `${name}.yaml`));
      assert.ok(existsSync(profilePath(`${name}.yaml`)));
      const facts = await readFactsFile(join(ROOT, 'profiles', 'facts', `${factsName}.json`));
      const plan = makePlan({ profile, facts, phases: phase, locate });
      const json = JSON.stringify(plan, null, 2) + '\n';
      const text = renderPlan(plan);
      const base = fixture('plans', `${name}.${phase}`);
      if (process.env['UPDATE_GOLDEN']) {
        writeFileSync(`${base}.json`, json);
        writeFileSync(`${base}.txt`, text);
      }
      assert.equal(json, readFileSync(`${base}.json`, 'utf8'));
      assert.equal(text, readFileSync(`${base}.txt`, 'utf8'));
    });
  }
}

test('the seed plan issues exactly the RFC recipe', async () => {
  const { profile, locate } = requireProfile(join('profiles', 'seed-pkernfs.yaml'));
  const plan = makePlan({ profile, facts: await readFactsFile(join(ROOT, 'profiles', 'facts', 'seed-host.json')), phases: 'all', locate });
  const argvs = plan.steps
    .flatMap((s) => ('argv' in s ? (Array.isArray(s.argv[0]) ? (s.argv as string[][]) : [s.argv as string[]]) : []))
    .map((a) => a.join(' '));
  assert.ok(argvs.includes('mount -t pkernfs none /mnt/pkernfs'));
  assert.ok(argvs.includes('touch /mnt/pkernfs/guest-ram'));
  assert.ok(argvs.includes('truncate -s 104857600 /mnt/pkernfs/guest-ram'));
  assert.ok(argvs.includes('touch /mnt/pkernfs/iommu/dom-0'));
  assert.ok(argvs.includes('truncate -s 2097152 /mnt/pkernfs/iommu/dom-0'));
  const start = plan.steps.find((s) => s.kind === 'qemu-start' && !s.incoming);
  assert.ok(
    start?.kind === 'qemu-start' &&
      start.argv.includes('memory-backend-file,id=ram0,size=104857600,mem-path=/mnt/pkernfs/guest-ram,share=on'),
  );
  // truncate runs exactly once, and never after the kexec (it would leak pkernfs blocks)
  assert.equal(argvs.filter((a) => a.startsWith('truncate')).length, 2);
  const kexecAt = plan.steps.findIndex((s) => s.kind === 'kexec-exec');
  assert.ok(plan.steps.slice(kexecAt).every((s) => s.kind !== 'file'));
  // kexec -s -l happens before the first VM pauses; exactly one point of no return
  const loadAt = plan.steps.findIndex((s) => s.kind === 'kexec-load');
  const firstBlackout = plan.steps.findIndex((s) => s.blackout);
  assert.ok(loadAt >= 0 && loadAt < firstBlackout);
  assert.equal(plan.steps.filter((s) => s.pointOfNoReturn).length, 1);
  assert.match(plan.kexecCmdline, / memmap=1G%1G nopat pkernfs=1G!1G nokaslr liveupdate$/);
  const remap = plan.steps.find((s) => s.id === 'resume/vfio-pgtables/0000:00:03.0');
  assert.ok(remap?.kind === 'helper-ioctl' && remap.ioctls.includes('VFIO_IOMMU_MAP_DMA(VFIO_DMA_MAP_FLAG_LIVE_UPDATE)'));
  const map = remap.program.ops.find((o) => o.op === 'vfio.dma.map');
  assert.deepEqual(map?.['flags'], ['read', 'write', 'live_update']);
  assert.deepEqual(
    remap.program.ops.map((o) => o.op),
    [
      'vfio.container.open',
      'vfio.group.open',
      'vfio.group.set_container',
      'vfio.set_iommu',
      'open',
      'vfio.set_persistent_pgtables',
      'buffer.file',
      'vfio.dma.map',
    ],
  );
});

test('every blackout window closes with cont, and nothing optional sits inside it', async () => {
  for (const [name, factsName] of EXAMPLES) {
    const { profile, locate } = requireProfile(join('profiles', `${name}.yaml`));
    const plan = makePlan({
      profile,
      facts: await readFactsFile(join(ROOT, 'profiles', 'facts', `${factsName}.json`)),
      phases: 'all',
      locate,
    });
    const inside = plan.steps.filter((s) => s.blackout);
    assert.ok(!inside.some((s) => s.kind === 'kexec-load'), `${name}: kexec load inside the blackout`);
    assert.ok(
      !inside.some((s) => s.kind === 'qmp' && s.command === 'migrate-set-capabilities' && s.phase === 'suspend'),
      `${name}: capabilities set inside the blackout`,
    );
    const lastBlackout = plan.steps.map((s) => s.blackout).lastIndexOf(true);
    const last = plan.steps[lastBlackout];
    assert.ok(last?.kind === 'qmp' && last.command === 'cont', `${name}: blackout ends at ${last?.id}`);
  }
});

test('pmem: the destructive steps act only on the device that is the carve-out, never one chosen by elimination', async () => {
  const { profile, locate } = requireProfile(join('profiles', 'lab.yaml'));
  const lab = await readFactsFile(join(ROOT, 'profiles', 'facts', 'lab.json'));
  const argvOf = (plan: ReturnType<typeof makePlan>, id: string): string => {
    const step = plan.steps.find((s) => s.id === id);
    return step && 'argv' in step ? (step.argv as string[]).join(' ') : '';
  };
  // the lab's own facts: pmem0 starts at the carve-out (1G)
  assert.equal(
    argvOf(makePlan({ profile, facts: lab, phases: 'prepare', locate }), 'prepare/mkfs'),
    'mkfs.ext4 -q -F -b 4096 -m 0 /dev/pmem0',
  );
  // the only pmem device elsewhere: nothing is formatted by name; the device stays a run-time unknown
  const elsewhere = { ...lab, pmem: lab.pmem.map((d) => ({ ...d, start: 8 * 2 ** 30 })) };
  const plan = makePlan({ profile, facts: elsewhere, phases: 'prepare', locate });
  assert.equal(argvOf(plan, 'prepare/mkfs'), 'mkfs.ext4 -q -F -b 4096 -m 0 {pmem.device}');
  assert.ok(!plan.steps.some((s) => 'argv' in s && JSON.stringify(s.argv).includes('pmem0')), 'no step names pmem0');
  // named in the profile, but not the carve-out: refused before anything is planned
  const named = { ...profile, persistence: { ...profile.persistence, device: '/dev/pmem0' } } as typeof profile;
  assert.throws(
    () => makePlan({ profile: named, facts: elsewhere, phases: 'prepare', locate }),
    (e: Error & { diagnostics?: Array<{ message: string }> }) =>
      (e.diagnostics ?? []).some((d) =>
        /\/dev\/pmem0 starts at 0x200000000, not at the carve-out's 0x40000000: liveupdate formats only the device that is the carve-out/.test(
          d.message,
        ),
      ),
  );
});

test('pendingChanges (plan --detailed-exitcode): the steps the facts do not show done, less the checks, which change nothing', async () => {
  const { profile, locate } = requireProfile(join('profiles', 'lab.yaml'));
  const facts = await readFactsFile(join(ROOT, 'profiles', 'facts', 'lab.json'));
  const plan = makePlan({ profile, facts, phases: 'prepare', locate });
  // the lab's facts show the namespace made and the pmem mounted; the rest is to do
  assert.deepEqual(
    pendingChanges(plan).map((s) => s.id),
    ['prepare/mkfs', 'prepare/mkdir-mount', 'prepare/file/guest-ram', 'prepare/mkdir-state', 'prepare/vm-folders', 'prepare/start/counter'],
  );
  // a host where everything but the checks is done: nothing to do, though the checks still run
  const done = { ...plan, steps: plan.steps.map((s) => (s.kind === 'verify' ? s : { ...s, satisfied: 'shown done' })) };
  assert.ok(
    done.steps.some((s) => !s.satisfied),
    'the carve-out check is not satisfied by facts',
  );
  assert.deepEqual(pendingChanges(done), []);
});

// Pure logic: the planner moving a VM to another QEMU (profile text and facts in memory, no host);
// the lab runs it for real (test/lab/luo.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFactsFile } from '../../../src/facts/file.js';
import type { HostFacts } from '../../../src/facts/types.js';
import { parseProfile } from '../../../src/profile/load.js';
import { makePlan } from '../../../src/plan/planner.js';
import type { Step } from '../../../src/plan/types.js';
import { LiveupdateError, formatDiagnostic } from '../../../src/errors.js';
import { renderPlan } from '../../../src/report/plan-text.js';
import { ROOT } from '../../helpers/paths.js';

const Q10 = '/opt/qemu-10/usr/bin/qemu-system-x86_64';

function profile(qemu: string, migration = '') {
  const text = `version: 1
host: { name: lab }
persistence: { backend: pmem, size: 256M, offset: 1G, mount: /mnt/pmem }
iommu: { api: vfio-container }
kexec: { kernel: /boot/vmlinuz, initrd: /boot/initrd.img }
migration:
  stateDir: /mnt/pmem/state
${migration}vms:
  - name: counter
    memory: 64M
    ramFile: guest-ram
    qemu:
${qemu}      accel: tcg
`;
  const r = parseProfile('/etc/liveupdate/up.yaml', text);
  assert.ok(r.value, r.errors.map(formatDiagnostic).join('\n'));
  return { profile: r.value, locate: r.locate };
}

async function facts(opts: { running?: { version: string; machine: string; exe?: string }; q10?: boolean } = {}): Promise<HostFacts> {
  const f = await readFactsFile(join(ROOT, 'profiles', 'facts', 'lab.json'));
  // the lab's captured facts with the machine types Debian 12's 7.2 and bookworm-backports' 10.0 list (abridged)
  const q72 = {
    ...f.qemu[0]!,
    machines: ['pc-i440fx-7.2', 'pc-q35-7.2', 'microvm', 'pc', 'q35'],
    aliases: { pc: 'pc-i440fx-7.2', q35: 'pc-q35-7.2' },
  };
  return {
    ...f,
    qemu: [
      q72,
      ...(opts.q10 === false
        ? []
        : [
            {
              binary: Q10,
              version: '10.0.2',
              machines: ['pc-i440fx-10.0', 'pc-i440fx-7.2', 'pc-q35-7.2', 'microvm'],
              aliases: { pc: 'pc-i440fx-10.0', q35: 'pc-q35-10.0' },
            },
          ]),
    ],
    vms: opts.running ? [{ name: 'counter', pid: 4242, exe: opts.running.exe ?? q72.binary, ...opts.running }] : [],
  };
}

const step = (steps: Step[], id: string): Step => steps.find((s) => s.id === id) ?? assert.fail(`no step ${id}`);
const argvOf = (s: Step): string[] => (s.kind === 'qemu-start' ? s.argv : assert.fail(`${s.id} starts no QEMU`));
const machineOf = (argv: string[]): string => argv[argv.indexOf('-machine') + 1]!.split(',')[0]!;

test('a newer QEMU restores a running VM on the machine type it runs, never the alias resolved again', async () => {
  const { profile: p, locate } = profile(`      binary: /usr/bin/qemu-system-x86_64\n      restoreBinary: ${Q10}\n      machine: pc\n`);
  const plan = makePlan({
    profile: p,
    facts: await facts({ running: { version: '7.2.22', machine: 'pc-i440fx-7.2' } }),
    phases: 'all',
    locate,
  });
  const restart = step(plan.steps, 'resume/restart/counter');
  const argv = argvOf(restart);
  assert.equal(argv[0], Q10);
  assert.equal(machineOf(argv), 'pc-i440fx-7.2', 'not pc-i440fx-10.0, which the alias names in 10.0');
  assert.ok(restart.kind === 'qemu-start' && restart.expectVersion === '10.0.2' && restart.expectMachine === 'pc-i440fx-7.2');
  // the running QEMU is checked before anything pauses, and the journal records what it was
  const v = step(plan.steps, 'suspend/verify-qemu/counter');
  assert.deepEqual(v.kind === 'verify' && v.verify, {
    kind: 'vm-qemu',
    vm: 'counter',
    socket: '/run/liveupdate/vms/counter/qmp.sock',
    version: '7.2.22',
    machine: 'pc-i440fx-7.2',
  });
  assert.ok(plan.steps.indexOf(v) < plan.steps.findIndex((s) => s.id === 'suspend/stop/counter'));
  // prepare would start it with the alias resolved by the binary that starts it (skipped at run time: it runs)
  assert.equal(machineOf(argvOf(step(plan.steps, 'prepare/start/counter'))), 'pc-i440fx-7.2');
  const vm = plan.vms[0]!;
  assert.deepEqual(vm.qemu.from, { binary: '/usr/bin/qemu-system-x86_64', version: '7.2.22', machine: 'pc-i440fx-7.2' });
  assert.deepEqual(vm.qemu.to, { binary: Q10, version: '10.0.2', machine: 'pc-i440fx-7.2' });
  assert.match(vm.qemu.upgrade ?? '', /a tested pair/);
  assert.equal(vm.running, true);
  assert.deepEqual(
    vm.notTaken.map((n) => n.mode),
    ['cpr-transfer', 'cpr-exec'],
  );
  assert.match(
    renderPlan(plan),
    /vm counter: QEMU 7\.2\.22 \/usr\/bin\/qemu-system-x86_64 on pc-i440fx-7\.2, restored by QEMU 10\.0\.2 \/opt\/qemu-10\/usr\/bin\/qemu-system-x86_64 on pc-i440fx-7\.2; x-ignore-shared; QEMU 7\.2 -> 10\.0/,
  );
});

test('a package upgrade in place: the running QEMU (its binary deleted) is the old version, the one on disk restores', async () => {
  const { profile: p, locate } = profile('      machine: q35\n');
  const f = await facts({ running: { version: '7.2.19', machine: 'pc-q35-7.2', exe: '/usr/bin/qemu-system-x86_64 (deleted)' } });
  const plan = makePlan({ profile: p, facts: f, phases: 'all', locate });
  assert.match(plan.vms[0]!.qemu.upgrade ?? '', /a stable update within QEMU 7\.2 \(7\.2\.19 -> 7\.2\.22\)/);
  assert.equal(plan.vms[0]!.qemu.from.binary, '/usr/bin/qemu-system-x86_64');
  const restart = step(plan.steps, 'resume/restart/counter');
  assert.ok(restart.kind === 'qemu-start' && restart.expectVersion === '7.2.22');
});

test('a VM not running yet starts on the alias resolved once, by the binary that starts it', async () => {
  const { profile: p, locate } = profile('      machine: q35\n');
  const plan = makePlan({ profile: p, facts: await facts(), phases: 'all', locate });
  assert.equal(machineOf(argvOf(step(plan.steps, 'prepare/start/counter'))), 'pc-q35-7.2');
  assert.equal(machineOf(argvOf(step(plan.steps, 'resume/restart/counter'))), 'pc-q35-7.2');
  assert.equal(plan.vms[0]!.running, false);
  assert.ok(!plan.steps.some((s) => s.id === 'suspend/verify-qemu/counter'), 'nothing runs to check');
});

function refused(fn: () => unknown): { message: string; lines: string[] } {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LiveupdateError && e.code === 'PLAN_INVALID', String(e));
    return { message: e.message, lines: (e.diagnostics ?? []).map(formatDiagnostic) };
  }
  return assert.fail('the plan was made');
}

test('refused before any step, at the profile line to change: a downgrade, an unversioned type, an untested pair', async () => {
  // a downgrade: the VM runs 10.0, the profile restores with 7.2
  const down = profile(`      binary: ${Q10}\n      restoreBinary: /usr/bin/qemu-system-x86_64\n      machine: pc-i440fx-7.2\n`);
  const f10 = await facts({ running: { version: '10.0.2', machine: 'pc-i440fx-7.2', exe: Q10 } });
  const r1 = refused(() => makePlan({ profile: down.profile, facts: f10, phases: 'all', locate: down.locate }));
  assert.match(r1.message, /1 VM cannot move to the QEMU that would restore it; nothing was done/);
  assert.match(
    r1.lines.join('\n'),
    /^\/etc\/liveupdate\/up\.yaml:14:\d+: vms\[0\]\.qemu\.restoreBinary: counter: QEMU 10\.0\.2 .* -> 7\.2\.22 .* refused: a downgrade/m,
  );
  // an unversioned type (the VM runs microvm) across versions
  const micro = profile(`      restoreBinary: ${Q10}\n      machine: microvm\n`);
  const fMicro = await facts({ running: { version: '7.2.22', machine: 'microvm' } });
  const r2 = refused(() => makePlan({ profile: micro.profile, facts: fMicro, phases: 'update', locate: micro.locate }));
  assert.match(r2.lines.join('\n'), /up\.yaml:14:\d+: vms\[0\]\.qemu\.machine: .*machine type microvm is not versioned/);
  // an untested pair, then the same pair acknowledged
  const eleven = { binary: Q10, version: '11.1.0', machines: ['pc-i440fx-7.2'], aliases: {} };
  const f11 = { ...(await facts({ running: { version: '7.2.22', machine: 'pc-i440fx-7.2' } })) };
  f11.qemu = [f11.qemu[0]!, eleven];
  const up = profile(`      restoreBinary: ${Q10}\n      machine: pc\n`);
  const r3 = refused(() => makePlan({ profile: up.profile, facts: f11, phases: 'all', locate: up.locate }));
  assert.match(r3.lines.join('\n'), /add '7\.2 -> 11\.1' to migration\.acceptUntestedQemu/);
  const ack = profile(`      restoreBinary: ${Q10}\n      machine: pc\n`, `  acceptUntestedQemu: ["7.2 -> 11.1"]\n`);
  const plan = makePlan({ profile: ack.profile, facts: f11, phases: 'all', locate: ack.locate });
  assert.match(plan.vms[0]!.qemu.upgrade ?? '', /not a tested pair; the profile accepts it/);
  // prepare alone restores nothing: not refused
  assert.ok(makePlan({ profile: down.profile, facts: f10, phases: 'prepare', locate: down.locate }).steps.length > 0);
});

test('a restoring QEMU that is missing is a rule error at its line', async () => {
  const { profile: p, locate } = profile(`      restoreBinary: /opt/none/qemu\n      machine: pc\n`);
  const f = await facts({ q10: false });
  const r = refused(() => makePlan({ profile: p, facts: f, phases: 'all', locate }));
  assert.match(r.lines.join('\n'), /up\.yaml:13:\d+: vms\[0\]\.qemu\.restoreBinary: \/opt\/none\/qemu is missing on lab/);
});

test('a bad acknowledgement is a profile error at its line', () => {
  const r = parseProfile(
    '/etc/liveupdate/up.yaml',
    `version: 1
host: { name: lab }
persistence: { backend: luo }
kexec: { kernel: /boot/vmlinuz }
migration:
  acceptUntestedQemu: ["7.2 to 11.1"]
vms: [{ name: a, memory: 64M }]
`,
  );
  assert.equal(r.value, undefined);
  assert.match(
    r.errors.map(formatDiagnostic).join('\n'),
    /up\.yaml:6:\d+: migration\.acceptUntestedQemu\[0\]: must be a QEMU upgrade like '9\.2 -> 10\.1'/,
  );
});

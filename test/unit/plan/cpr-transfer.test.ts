// Pure logic: the planner choosing cpr-transfer for a VMM-only update, and its steps (profile text
// and facts in memory, no host); test/integration/cpr-transfer.test.ts runs them with real QEMUs.
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFactsFile } from '../../../src/facts/file.js';
import type { HostFacts, RunningVm } from '../../../src/facts/types.js';
import { parseProfile } from '../../../src/profile/load.js';
import { makePlan } from '../../../src/plan/planner.js';
import type { Plan, Step } from '../../../src/plan/types.js';
import { formatDiagnostic } from '../../../src/errors.js';
import { parseRunningVms } from '../../../src/facts/parse.js';
import { cprTransferWhyNot } from '../../../src/qemu/mode.js';
import { ROOT } from '../../helpers/paths.js';

const Q10 = '/opt/qemu-10/usr/bin/qemu-system-x86_64';
const Q11 = '/opt/qemu-11/usr/bin/qemu-system-x86_64';

function profile(opts: { backend?: string; mode?: string; vfio?: boolean; accept?: string; accel?: string; api?: string } = {}) {
  const persistence =
    opts.backend === 'luo' ? '{ backend: luo }' : `{ backend: ${opts.backend ?? 'pmem'}, size: 256M, offset: 1G, mount: /mnt/pmem }`;
  const text = `version: 1
host: { name: lab }
persistence: ${persistence}
iommu: { api: ${opts.api ?? 'vfio-container'}${opts.vfio ? ', dmaStopsDuringUpdate: true' : ''} }
kexec: { kernel: /boot/vmlinuz, initrd: /boot/initrd.img }
migration:
  stateDir: /var/lib/liveupdate/state
${opts.mode ? `  mode: ${opts.mode}\n` : ''}${opts.accept ? `  acceptUntestedQemu: ["${opts.accept}"]\n` : ''}vms:
  - name: counter
    memory: 64M
    ramFile: guest-ram
    qemu:
      binary: ${Q10}
      restoreBinary: ${Q11}
      machine: pc
      accel: ${opts.accel ?? 'tcg'}
${opts.vfio ? '    vfio: [{ host: "0000:00:03.0" }]\n' : ''}`;
  const r = parseProfile('/etc/liveupdate/up.yaml', text);
  assert.ok(r.value, r.errors.map(formatDiagnostic).join('\n'));
  return { profile: r.value, locate: r.locate };
}

async function facts(running: Partial<RunningVm> | undefined): Promise<HostFacts> {
  const f = await readFactsFile(join(ROOT, 'profiles', 'facts', 'lab.json'));
  return {
    ...f,
    // the lab host as if it had KVM and iommufd (the LUO lab host has both)
    devices: { ...f.devices, kvm: true, iommu: true },
    qemu: [
      ...f.qemu,
      { binary: Q10, version: '10.0.2', machines: ['pc-i440fx-10.0', 'pc-i440fx-7.2'], aliases: { pc: 'pc-i440fx-10.0' } },
      {
        binary: Q11,
        version: '11.1.3',
        machines: ['pc-i440fx-11.1', 'pc-i440fx-10.0', 'pc-i440fx-7.2'],
        aliases: { pc: 'pc-i440fx-11.1' },
      },
    ],
    vms: running ? [{ name: 'counter', pid: 4242, exe: Q10, version: '10.0.2', machine: 'pc-i440fx-10.0', ...running }] : [],
  };
}

async function plan(
  o: {
    running?: Partial<RunningVm> | undefined;
    backend?: string;
    mode?: string;
    vfio?: boolean;
    accept?: string;
    accel?: string;
    api?: string;
    update?: 'vmm' | 'kernel';
    phases?: 'update' | 'abort';
  } = {},
): Promise<Plan> {
  const { profile: p, locate } = profile(o);
  const running = 'running' in o ? o.running : { auxRamShare: true };
  return makePlan({
    profile: p,
    facts: await facts(running),
    phases: o.phases ?? 'update',
    locate,
    update: o.update ?? 'vmm',
    allowOtherHost: true,
    // a VM running on the QEMU that restores it has nothing to do (plan/converged.ts); these tests are of the steps
    force: true,
  });
}

const ids = (steps: Step[], vm = 'counter'): string[] => steps.filter((s) => s.vm === vm).map((s) => s.id);
const step = (steps: Step[], id: string): Step => steps.find((s) => s.id === id) ?? assert.fail(`no step ${id}`);

test('a VMM-only update of a running VM on QEMU 10.0+ started with aux-ram-share hands it over with cpr-transfer: no state file, the new QEMU waits beside the old', async () => {
  const p = await plan();
  const vm = p.vms[0]!;
  assert.equal(vm.migrationMode, 'cpr-transfer');
  assert.match(vm.modeWhy, /VMM-only update, QEMU 10\.0\.2 -> 11\.1\.3/);
  assert.deepEqual(
    vm.notTaken.map((n) => n.mode),
    ['cpr-exec'],
    'the mode taken is not listed as not taken',
  );
  assert.deepEqual(ids(p.steps), [
    'suspend/verify-qemu/counter',
    'suspend/caps/counter',
    'suspend/mode/counter',
    'suspend/start-new/counter',
    'resume/transfer/counter',
    'resume/verify-new/counter',
    'resume/cont/counter',
    'resume/quit-old/counter',
    'resume/adopt/counter',
    'resume/verify-running/counter',
  ]);
  const caps = step(p.steps, 'suspend/caps/counter');
  assert.deepEqual(
    caps.kind === 'qmp' && caps.arguments,
    { capabilities: [{ capability: 'events', state: true }] },
    'no x-ignore-shared: every RAM block goes over as a file descriptor',
  );
  const mode = step(p.steps, 'suspend/mode/counter');
  assert.deepEqual(mode.kind === 'qmp' && mode.arguments, { mode: 'cpr-transfer' });
  const start = step(p.steps, 'suspend/start-new/counter');
  assert.ok(start.kind === 'qemu-start' && start.cpr, 'started in the background, waiting on the cpr socket');
  assert.equal(start.blackout, false, 'the VM runs while its new QEMU starts');
  assert.equal(start.argv[0], Q11);
  assert.equal(
    start.argv[start.argv.indexOf('-machine') + 1],
    'pc-i440fx-10.0,memory-backend=ram0,aux-ram-share=on',
    "the type the VM runs, not 11.1's pc",
  );
  assert.equal(
    start.argv[start.argv.indexOf('-pidfile') + 1],
    '/run/liveupdate/vms/counter/qemu-cpr-{run.tag}.pid',
    "not the VM's pidfile: the old QEMU removes that one as it quits",
  );
  assert.equal(start.socket, '/run/liveupdate/vms/counter/qmp-cpr-{run.tag}.sock');
  const transfer = step(p.steps, 'resume/transfer/counter');
  assert.ok(transfer.kind === 'qmp' && transfer.command === 'migrate' && transfer.socket === '/run/liveupdate/vms/counter/qmp.sock');
  assert.deepEqual(transfer.marks, { blackoutStart: true, saveState: true });
  assert.equal(transfer.abortOnFailure, true);
  assert.ok(
    !p.steps.some((s) => s.id.includes('clear-state') || s.id.includes('/stop/') || s.id.includes('restart')),
    'no stop/save/restart path',
  );
  // the blackout ends on the new QEMU; the old one quits only after, then the new one takes the VM's paths
  assert.deepEqual(step(p.steps, 'resume/cont/counter').marks, { blackoutEnd: true });
  const cont = step(p.steps, 'resume/cont/counter');
  assert.ok(cont.kind === 'qmp' && cont.socket === '/run/liveupdate/vms/counter/qmp-cpr-{run.tag}.sock');
  const adopt = step(p.steps, 'resume/adopt/counter');
  assert.deepEqual(adopt.kind === 'qemu-adopt' && { pid: adopt.pid, pidfile: adopt.pidfile, socket: adopt.socket }, {
    pid: '{cpr.pid.counter}',
    pidfile: '/run/liveupdate/vms/counter/qemu.pid',
    socket: '/run/liveupdate/vms/counter/qmp.sock',
  });
  const verify = step(p.steps, 'resume/verify-new/counter');
  assert.deepEqual(verify.kind === 'verify' && verify.verify, {
    kind: 'cpr-received',
    vm: 'counter',
    socket: '/run/liveupdate/vms/counter/qmp-cpr-{run.tag}.sock',
    version: '11.1.3',
    machine: 'pc-i440fx-10.0',
    timeoutMs: 120_000,
  });
});

const on11: Partial<RunningVm> = { exe: Q11, version: '11.1.3', machine: 'pc-i440fx-10.0', auxRamShare: true };

test('a VM with a passed-through device is handed over by cpr-transfer on QEMU 10.1+ under KVM through iommufd: the new QEMU gets the same iommufd object and device ids', async () => {
  const p = await plan({ vfio: true, accel: 'kvm', api: 'iommufd', running: on11 });
  const vm = p.vms[0]!;
  assert.equal(vm.migrationMode, 'cpr-transfer', vm.notTaken.map((n) => n.why).join('; '));
  const start = step(p.steps, 'suspend/start-new/counter');
  assert.ok(start.kind === 'qemu-start');
  const dev = ['-object', 'iommufd,id=iommufd0', '-device', 'vfio-pci,host=0000:00:03.0,id=vfio-0000-00-03-0,iommufd=iommufd0'];
  const at = start.argv.indexOf('-object', start.argv.indexOf('iommufd,id=iommufd0') - 1);
  assert.deepEqual(start.argv.slice(at, at + 4), dev, start.argv.join(' '));
  // nothing rebinds the device: it stays with vfio-pci and the old QEMU until the new one has it
  assert.deepEqual(
    p.steps.filter((s) => s.id.includes('vfio-')).map((s) => s.id),
    [],
  );
});

test('cpr-transfer is not taken, with the reason, when anything stands in the way; the VM takes the stop/save/restart path', async () => {
  const cases: Array<[string, Parameters<typeof plan>[0], RegExp]> = [
    ['old QEMU without aux-ram-share', { running: { auxRamShare: false } }, /without -machine aux-ram-share=on.*restarts it with it/],
    ['facts from before the probe read -machine', { running: {} }, /without -machine aux-ram-share=on/],
    ['VM not running', { running: undefined }, /not running/],
    [
      '7.2 running',
      {
        running: { version: '7.2.22', machine: 'pc-i440fx-7.2', exe: '/usr/bin/qemu-system-x86_64', auxRamShare: false },
        accept: '7.2 -> 11.1',
      },
      /needs QEMU 10\.0 or newer on both sides \(7\.2\.22 -> 11\.1\.3\)/,
    ],
    [
      'a passed-through device, QEMU 10.0',
      { vfio: true, accel: 'kvm', api: 'iommufd' },
      /passed-through device is handed over by QEMU 10\.1 or newer on both sides \(10\.0\.2 -> 11\.1\.3\)/,
    ],
    [
      'a passed-through device under TCG',
      { vfio: true, api: 'iommufd', running: on11 },
      /only under KVM \(this VM's accel is tcg\).*crashes on migrate/,
    ],
    ['a passed-through device in the legacy container', { vfio: true, accel: 'kvm', running: on11 }, /only through iommufd here/],
    ['the profile names a mode', { mode: 'cpr-reboot' }, /the profile sets migration\.mode cpr-reboot/],
  ];
  for (const [name, o, why] of cases) {
    const p = await plan(o).catch((e: Error) => assert.fail(`${name}: ${e.message}`));
    const vm = p.vms[0]!;
    assert.notEqual(vm.migrationMode, 'cpr-transfer', name);
    assert.match(vm.notTaken.find((n) => n.mode === 'cpr-transfer')?.why ?? '', why, name);
    assert.ok(
      p.steps.some((s) => s.id === 'suspend/stop/counter') && p.steps.some((s) => s.id === 'resume/restart/counter'),
      `${name}: stop/save/restart`,
    );
  }
  // pkernfs and LUO need their kernels' facts to plan at all: the rule itself
  const rule = (backend: 'pkernfs' | 'luo') =>
    cprTransferWhyNot({
      from: '10.0.2',
      to: '11.1.3',
      backend,
      running: true,
      auxRamShare: true,
      passthrough: false,
      iommuApi: 'iommufd',
      accel: 'kvm',
    });
  assert.match(rule('pkernfs') ?? '', /not proven on the pkernfs backend/);
  assert.equal(rule('luo'), undefined, 'LUO: the memfd goes to the new QEMU like any shared RAM');
  // a kernel update never takes it
  const k = await plan({ update: 'kernel', phases: 'update' });
  assert.notEqual(k.vms[0]!.migrationMode, 'cpr-transfer');
  assert.match(k.vms[0]!.notTaken[0]!.why, /not across a kexec/);
});

test('the restart path starts QEMU 10.0+ with aux-ram-share=on (the next VMM update can hand the VM over) and resets a mode an aborted cpr-transfer left', async () => {
  const p = await plan({ running: { auxRamShare: false } });
  const restart = step(p.steps, 'resume/restart/counter');
  assert.ok(restart.kind === 'qemu-start' && restart.argv[restart.argv.indexOf('-machine') + 1]!.endsWith(',aux-ram-share=on'));
  const mode = step(p.steps, 'suspend/mode/counter');
  assert.deepEqual(mode.kind === 'qmp' && mode.arguments, { mode: 'cpr-reboot' });
  const x = await plan({ running: { auxRamShare: false }, mode: 'x-ignore-shared' });
  const normal = step(x.steps, 'suspend/mode/counter');
  assert.deepEqual(
    normal.kind === 'qmp' && normal.arguments,
    { mode: 'normal' },
    'x-ignore-shared on 8.2+: the mode is set to normal, not left as it was',
  );
  // QEMU 7.2 has no migration mode and no aux-ram-share: neither is asked of it
  const old = await plan({
    running: { version: '7.2.22', machine: 'pc-i440fx-7.2', exe: '/usr/bin/qemu-system-x86_64' },
    mode: 'x-ignore-shared',
    accept: '7.2 -> 11.1',
  });
  assert.ok(!old.steps.some((s) => s.id === 'suspend/mode/counter'));
});

test('abort of a cpr-transfer: finished forward once the new QEMU ran the VM, else the new QEMU stopped and the old continued only when none is left alive', async () => {
  const p = await plan({ phases: 'abort' });
  assert.deepEqual(ids(p.steps), [
    'abort/quit-old/counter',
    'abort/adopt/counter',
    'abort/quit-new/counter',
    'abort/stop-waiting/counter',
    'abort/cont-old/counter',
    'abort/verify-running/counter',
  ]);
  const ran = { kind: 'vm-status', vm: 'counter', socket: '/run/liveupdate/vms/counter/qmp-cpr-{run.tag}.sock', status: ['running'] };
  assert.deepEqual(step(p.steps, 'abort/quit-old/counter').onlyIf, ran);
  assert.deepEqual(step(p.steps, 'abort/adopt/counter').onlyIf, ran);
  assert.ok(
    !(step(p.steps, 'abort/quit-new/counter').onlyIf as { status: string[] }).status.includes('running'),
    'a new QEMU that ran the VM is never quit',
  );
  assert.deepEqual(step(p.steps, 'abort/cont-old/counter').onlyIf, {
    kind: 'all',
    checks: [
      { kind: 'vm-status', vm: 'counter', status: ['paused', 'postmigrate'] },
      { kind: 'not', check: { kind: 'process-alive', pidfile: '/run/liveupdate/vms/counter/qemu-cpr-{run.tag}.pid' } },
    ],
  });
});

test('facts: a running QEMU started by a cpr-transfer (its pidfile qemu-cpr-RUN.pid in the VM folder) is the VM; -machine options say whether aux-ram-share is on', () => {
  const q = [{ binary: Q11, version: '11.1.3', aliases: { pc: 'pc-i440fx-11.1' } }];
  const vms = parseRunningVms(
    [
      `a\t10\t${Q11}\t=\tpc-i440fx-10.0\t=\tpc-i440fx-10.0,memory-backend=ram0,aux-ram-share=on`,
      `b\t11\t${Q11}\t=\tpc\t=\tpc,memory-backend=ram0`,
      `c\t12\t${Q11}\t=\tpc\t=\t`,
    ].join('\n'),
    q,
  );
  assert.deepEqual(
    vms.map((v) => [v.name, v.machine, v.auxRamShare]),
    [
      ['a', 'pc-i440fx-10.0', true],
      ['b', 'pc-i440fx-11.1', false],
      ['c', 'pc-i440fx-11.1', false],
    ],
  );
  // a line from a probe that did not print the options (facts saved earlier): not known
  assert.equal(parseRunningVms(`d\t13\t${Q11}\t=\tpc\t=`.split('\t').slice(0, 6).join('\t'), q)[0]!.auxRamShare, undefined);
});

test('LUO, VMM-only: the living holder is asked for its pid and memfds (no sessions retrieved or finished); app0 is handed over by cpr-transfer, app1 (not running) takes stop/save/restart and quits only after the holder guard', async () => {
  // pure logic: profiles/luo.yaml's host as facts, its QEMU 11.1 and a running app0 added
  const text = readFileSync(join(ROOT, 'profiles', 'luo.yaml'), 'utf8')
    .replace(/migration:\n {2}mode: x-ignore-shared\n/, 'migration:\n  mode: auto\n')
    .replace(/qemu: \{ cpus: 1,/g, `qemu: { binary: ${Q11}, machine: pc, cpus: 1,`);
  const r = parseProfile('/etc/liveupdate/luo.yaml', text);
  assert.ok(r.value, r.errors.map(formatDiagnostic).join('\n'));
  const f = await readFactsFile(join(ROOT, 'profiles', 'facts', 'luo-host.json'));
  const facts: HostFacts = {
    ...f,
    qemu: [...f.qemu, { binary: Q11, version: '11.1.3', machines: ['pc-i440fx-11.1'], aliases: { pc: 'pc-i440fx-11.1' } }],
    vms: [{ name: 'app0', pid: 4242, exe: Q11, version: '11.1.3', machine: 'pc-i440fx-11.1', auxRamShare: true }],
  };
  const p = makePlan({ profile: r.value, facts, phases: 'update', locate: r.locate, update: 'vmm' });
  assert.deepEqual(
    p.vms.map((v) => v.migrationMode),
    ['cpr-transfer', 'cpr-reboot'],
  );
  assert.match(p.vms[0]!.modeWhy, /a memfd the LUO holder keeps/);
  const holder = step(p.steps, 'suspend/luo-holder');
  assert.equal(p.steps.indexOf(holder), 0, 'asked first, before any VM pauses');
  assert.deepEqual(holder.kind === 'helper-ioctl' && holder.vars, {
    'holder.pid': 'pid',
    'memfd.app0': 'handles.ram-app0.fd',
    'memfd.app1': 'handles.ram-app1.fd',
  });
  const start = step(p.steps, 'suspend/start-new/app0');
  assert.ok(
    start.kind === 'qemu-start' && start.argv.some((a) => a.includes('mem-path=/proc/{holder.pid}/fd/{memfd.app0}')),
    'the new QEMU names the same memfd',
  );
  const all = p.steps.map((s) => s.id);
  assert.deepEqual(
    all.filter((id) => /luo-(retrieve|finish|hold|represerve)$/.test(id)),
    [],
    'the sessions stay as they are',
  );
  assert.deepEqual(
    all.filter((id) => id.startsWith('kexec/')),
    ['kexec/verify-luo-holder', 'kexec/quit/app1'],
  );
  assert.ok(all.includes('resume/quit-old/app0') && all.includes('resume/restart/app1'));
});

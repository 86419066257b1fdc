/**
 * Real QEMU VMs on this machine for the VM tests and bench:vm. Guest RAM is a file in a temp dir
 * (share=on), standing in for pmem: the planner gets this machine's real facts with one edit
 * (the test double): the temp dir's "carve-out" is reported as active pmem, so it plans the
 * pmem steps without a reboot. The guest is the boot-sector counter from lab/image.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { gatherFacts } from '../../src/facts/gather.js';
import type { HostFacts } from '../../src/facts/types.js';
import { LocalHost } from '../../src/host/local.js';
import { buildContext, type PlanContext } from '../../src/plan/context.js';
import { preparePhase } from '../../src/plan/phases/prepare.js';
import { restoreVm } from '../../src/plan/phases/resume.js';
import { migrationSetup, suspendVm } from '../../src/plan/phases/suspend.js';
import type { Step } from '../../src/plan/types.js';
import { parseProfile } from '../../src/profile/load.js';
import { QmpPool } from '../../src/qemu/pool.js';
import type { RunEnv } from '../../src/exec/runners/env.js';
import { ROOT } from './paths.js';
import { readCounter } from '../../src/lab/counter.js';
import { killTaggedQemu, taggedQemuPids, vmStartSteps, withActivePmem } from './local-qemu.js';
import { tempDir } from './temp.js';

export interface Harness {
  dir: string;
  ctx: PlanContext;
  env: RunEnv;
  names: string[];
  /** prepare: RAM files, state dir, VMs started */
  startSteps: Step[];
  /** suspend without the kexec staging: capabilities, stop, save, verify, quit */
  suspendSteps: Step[];
  restoreSteps: (vm: string) => Step[];
  counterInRamFile: (vm: string) => bigint;
  counterLive: (vm: string) => Promise<bigint>;
  qemuPids: () => number[];
  cleanup: () => Promise<void>;
}

let seq = 0;
const facts0 = gatherFacts(new LocalHost(), undefined);

/** `spin`: counter guests that count as fast as they can (benches that time the guest); by default they count 100 Hz ticks and idle. */
export async function harness(opts: {
  vms: number;
  memory?: string;
  wrapQemu?: boolean;
  prefix?: string;
  spin?: boolean;
}): Promise<Harness> {
  const dir = tempDir('/var/tmp/lu-vm-'); // not /tmp: the profile rules refuse tmpfs for state
  const tag = `${opts.prefix ?? 't'}${process.pid}x${seq++}`;
  const names = Array.from({ length: opts.vms }, (_, i) => `${tag}v${i}`);
  // one boot disk per VM: QEMU locks images for writing
  for (const n of names)
    execFileSync('python3', [join(ROOT, 'lab/image/counter-img.py'), join(dir, `${n}.img`), ...(opts.spin ? ['--spin'] : [])]);
  // wrapQemu: the VMs run <dir>/qemu, a symlink a test can swap for another binary
  const binary = opts.wrapQemu ? join(dir, 'qemu') : '/usr/bin/qemu-system-x86_64';
  if (opts.wrapQemu) symlinkSync('/usr/bin/qemu-system-x86_64', binary);
  const vms = names
    .map(
      (n) =>
        `  - name: ${n}\n    memory: ${opts.memory ?? '32M'}\n    qemu: {binary: ${binary}, machine: pc, accel: tcg, args: [-nodefaults, -display, none, -drive, "file=${dir}/${n}.img,format=raw,if=ide"]}\n`,
    )
    .join('');
  // the RAM files in a folder of their own: the journal may not be inside the carve-out's mount point
  mkdirSync(join(dir, 'ram'));
  const text = `version: 1\nhost: {name: harness}\npersistence: {backend: pmem, size: 1G, offset: 16G, mount: ${dir}/ram}\nkexec: {kernel: /bin/true}\nmigration: {stateDir: ${dir}/state, timeout: 60s}\njournal: {dir: ${dir}/journal}\nruntime: {dir: ${dir}/run}\nvms:\n${vms}`;
  const r = parseProfile(join(dir, 'profile.yaml'), text);
  if (!r.value) throw new Error(JSON.stringify(r.errors));
  const real = await facts0;
  // the one edit: report the carve-out as active pmem at 16G so the pmem plan needs no reboot
  const facts: HostFacts = { ...withActivePmem(real, 'harness'), qemu: [{ binary, version: real.qemu[0]?.version }] };
  const ctx = buildContext(r.value, facts);
  const env: RunEnv = {
    host: new LocalHost(),
    qmp: new QmpPool(new LocalHost()),
    outcomes: new Map(),
    vars: Object.fromEntries(ctx.vms.map((v) => [`qmp.${v.spec.name}`, v.spec.qmp])),
  };
  const prepare = preparePhase(ctx);
  const startSteps = vmStartSteps(prepare);
  const suspendSteps = [
    ...ctx.vms.flatMap((v) => migrationSetup(ctx, v, 'suspend', 'migration-setup', false)),
    ...ctx.vms.flatMap((v) => suspendVm(ctx, v, 'suspend-vms')),
  ];
  const restoreSteps = (vm: string): Step[] =>
    restoreVm(
      ctx,
      ctx.vms.find((v) => v.spec.name === vm)!,
      'resume',
      'restore-vms',
    );
  const ramFile = (vm: string): string => join(dir, 'ram', ctx.vms.find((v) => v.spec.name === vm)!.spec.ramFile);

  return {
    dir,
    ctx,
    env,
    names,
    startSteps,
    suspendSteps,
    restoreSteps,
    counterInRamFile: (vm) => readFileSync(ramFile(vm)).readBigUInt64LE(0x7e00),
    counterLive: async (vm) => (await readCounter(await env.qmp.get(env.vars[`qmp.${vm}`]!))).value,
    qemuPids: () => taggedQemuPids(tag),
    cleanup: async () => {
      await env.qmp.closeAll();
      killTaggedQemu(tag);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * cpr-transfer: a VMM-only update hands a running VM to its new QEMU while the old one is alive.
 * The new QEMU starts first and waits (suspend: the VM keeps running); the old one pauses the VM and
 * passes guest RAM and QEMU's own memory as file descriptors over the cpr socket and the device
 * state over the migration socket; the new one is checked, continued, and takes the VM's paths once
 * the old one is gone (resume). Nothing is written to a state file.
 *
 * The rule every abort keeps: once the new QEMU has run the guest, the old one is never continued
 * (both would run the same RAM); before that, the new one is stopped and the old one continued.
 */
import { isVersionedMachine } from '../../qemu/versions.js';
import { stepper, vmArgv, type PlanContext, type VmContext } from '../context.js';
import { STOP_WAITING, cprChannel } from '../../qemu/cpr.js';
import type { Check, Step } from '../types.js';

/** The new QEMU has the VM's state but has not run it (started with -S, never continued). */
const NOT_RUN = ['inmigrate', 'prelaunch', 'paused', 'postmigrate', 'finish-migrate'];

/** The run-time variable that holds the new QEMU's pid: set by its start, read by the adopt. */
const pidVar = (vm: VmContext): string => `cpr.pid.${vm.spec.name}`;

const newQemuIs = (vm: VmContext, status: string[]): Check => ({ kind: 'vm-status', vm: vm.spec.name, socket: vm.cpr.qmp, status });

/** suspend: the new QEMU started, waiting on its cpr socket; the VM still runs on the old one. */
export function startNewQemu(ctx: PlanContext, vm: VmContext, group: string): Step {
  const n = vm.spec.name;
  return stepper('suspend')(
    `start-new/${n}`,
    {
      blackout: false,
      vm: n,
      group,
      idempotent: true,
      check: null,
      description: `start ${n}'s new QEMU ${vm.to.version ?? '(version unknown)'} on ${vm.to.machine}, waiting for ${n} on ${vm.cpr.cprSocket} (${n} keeps running)`,
    },
    {
      kind: 'qemu-start',
      timeoutMs: ctx.profile.migration.timeoutMs,
      vm: n,
      argv: vmArgv(ctx, vm, 'cpr'),
      pidfile: vm.cpr.pidfile,
      incoming: true,
      socket: vm.cpr.qmp,
      cpr: { cprSocket: vm.cpr.cprSocket, mainSocket: vm.cpr.mainSocket, log: vm.cpr.log, vmPidfile: vm.pidfile, pidVar: pidVar(vm) },
    },
  );
}

/** The new QEMU takes the VM's QMP socket and pidfile, so the next update finds it where it finds every VM. */
function adopt(vm: VmContext, phase: 'resume' | 'abort', group: string, onlyIf?: Check): Step {
  const n = vm.spec.name;
  return stepper(phase)(
    `adopt/${n}`,
    {
      blackout: false,
      vm: n,
      group,
      idempotent: true,
      check: null,
      ...(onlyIf ? { onlyIf } : {}),
      description: `${n}'s new QEMU takes its QMP socket ${vm.spec.qmp} and pidfile ${vm.pidfile}`,
    },
    {
      kind: 'qemu-adopt',
      vm: n,
      pid: `{${pidVar(vm)}}`,
      pidfile: vm.pidfile,
      socket: vm.spec.qmp,
      from: { pidfile: vm.cpr.pidfile, socket: vm.cpr.qmp },
    },
  );
}

function quitOld(vm: VmContext, phase: 'resume' | 'abort', group: string, onlyIf?: Check): Step {
  const n = vm.spec.name;
  return stepper(phase)(
    `quit-old/${n}`,
    {
      blackout: false,
      vm: n,
      group,
      idempotent: true,
      check: { kind: 'vm-gone', vm: n },
      ...(onlyIf ? { onlyIf } : {}),
      description: `quit ${n}'s old QEMU (${n} runs on the new one; the old one is never continued)`,
    },
    {
      kind: 'qmp',
      vm: n,
      socket: vm.spec.qmp,
      command: 'quit',
      pidfile: vm.pidfile,
    },
  );
}

/** resume: hand over, check the new QEMU, continue it, retire the old one. */
export function handOver(ctx: PlanContext, vm: VmContext, group: string): Step[] {
  const s = stepper('resume');
  const n = vm.spec.name;
  const b = { blackout: true, vm: n, group };
  return [
    s(
      `transfer/${n}`,
      {
        ...b,
        idempotent: true,
        abortOnFailure: true,
        check: { kind: 'vm-status', vm: n, status: ['postmigrate'] },
        marks: { blackoutStart: true, saveState: true },
        description: `hand ${n} to its new QEMU (cpr-transfer): the old one pauses it and passes its RAM over ${vm.cpr.cprSocket}, its device state over ${vm.cpr.mainSocket}: its blackout starts`,
      },
      {
        kind: 'qmp',
        vm: n,
        socket: vm.spec.qmp,
        command: 'migrate',
        arguments: { channels: [cprChannel('main', vm.cpr.mainSocket), cprChannel('cpr', vm.cpr.cprSocket)] },
        wait: { until: ['completed'], timeoutMs: ctx.profile.migration.timeoutMs },
      },
    ),
    s(
      `verify-new/${n}`,
      {
        ...b,
        idempotent: true,
        abortOnFailure: true,
        check: newQemuIs(vm, ['running']),
        marks: { restore: 'load' },
        description: `verify ${n}'s new QEMU is ${vm.to.version ?? 'the planned version'} on ${vm.to.machine} and has loaded ${n} (if not: it is stopped and the old one continues ${n})`,
      },
      {
        kind: 'verify',
        verify: {
          kind: 'cpr-received',
          vm: n,
          socket: vm.cpr.qmp,
          ...(vm.to.version ? { version: vm.to.version } : {}),
          ...(isVersionedMachine(vm.to.machine) ? { machine: vm.to.machine } : {}),
          timeoutMs: ctx.profile.migration.timeoutMs,
        },
      },
    ),
    s(
      `cont/${n}`,
      {
        ...b,
        idempotent: true,
        check: newQemuIs(vm, ['running']),
        marks: { blackoutEnd: true },
        description: `resume ${n} on its new QEMU: its blackout ends`,
      },
      { kind: 'qmp', vm: n, socket: vm.cpr.qmp, command: 'cont' },
    ),
    quitOld(vm, 'resume', group),
    adopt(vm, 'resume', group),
    s(
      `verify-running/${n}`,
      { blackout: false, vm: n, group, idempotent: true, check: null, description: `verify ${n} reports running` },
      { kind: 'verify', verify: { kind: 'vm-status', vm: n, status: 'running' } },
    ),
  ];
}

/**
 * abort: a VM the new QEMU already runs is finished forward (the old one quits); otherwise the new
 * QEMU is stopped (asked over QMP, or, still waiting for the cpr state, signalled) and the old one
 * continued, only once no new QEMU is left alive.
 */
export function abortHandOver(vm: VmContext, group: string): Step[] {
  const s = stepper('abort');
  const n = vm.spec.name;
  const ran = newQemuIs(vm, ['running']);
  return [
    quitOld(vm, 'abort', group, ran),
    adopt(vm, 'abort', group, ran),
    s(
      `quit-new/${n}`,
      {
        blackout: true,
        vm: n,
        group,
        idempotent: true,
        check: { kind: 'vm-gone', vm: n, socket: vm.cpr.qmp },
        onlyIf: newQemuIs(vm, NOT_RUN),
        description: `quit ${n}'s new QEMU: it never ran ${n}`,
      },
      {
        kind: 'qmp',
        vm: n,
        socket: vm.cpr.qmp,
        command: 'quit',
        pidfile: vm.cpr.pidfile,
      },
    ),
    s(
      `stop-waiting/${n}`,
      {
        blackout: false,
        vm: n,
        group,
        idempotent: true,
        check: null,
        onlyIf: { kind: 'path-exists', path: vm.cpr.cprSocket },
        description: `stop ${n}'s new QEMU if it still waits on ${vm.cpr.cprSocket} (it has nothing of ${n} yet)`,
      },
      {
        kind: 'exec',
        argv: ['sh', '-c', STOP_WAITING, 'sh', vm.cpr.pidfile, vm.pidfile, vm.cpr.cprSocket],
      },
    ),
    s(
      `cont-old/${n}`,
      {
        blackout: true,
        vm: n,
        group,
        idempotent: true,
        check: { kind: 'vm-status', vm: n, status: ['running'] },
        onlyIf: {
          kind: 'all',
          checks: [
            { kind: 'vm-status', vm: n, status: ['paused', 'postmigrate'] },
            { kind: 'not', check: { kind: 'process-alive', pidfile: vm.cpr.pidfile } },
          ],
        },
        marks: { blackoutEnd: true },
        description: `${n}'s new QEMU is gone and never ran it: continue the old one`,
      },
      {
        kind: 'qmp',
        vm: n,
        socket: vm.spec.qmp,
        command: 'cont',
      },
    ),
    s(
      `verify-running/${n}`,
      { blackout: false, vm: n, group, idempotent: true, check: null, description: `verify ${n} reports running` },
      { kind: 'verify', verify: { kind: 'vm-status', vm: n, status: 'running' } },
    ),
  ];
}

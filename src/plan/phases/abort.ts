import { stepper, type PlanContext } from '../context.js';
import type { Step } from '../types.js';
import { remountStorage, restoreVm } from './resume.js';
import { abortHandOver } from './handover.js';
import { vmFolders } from './shared.js';
import { libvirtReady, restoreDomains } from './libvirt.js';

/**
 * abort, before the point of no return: every VM runs again on this kernel. A VM whose old QEMU
 * is still alive just continues; one whose QEMU quit is restored from its saved state.
 */
export function abortPhase(ctx: PlanContext): Step[] {
  const s = stepper('abort');
  const steps: Step[] = [...remountStorage(ctx, 'abort')];
  steps.push(vmFolders(ctx, 'abort', { blackout: true }), ...libvirtReady(ctx, 'abort'));
  for (const vm of ctx.vms) {
    const n = vm.spec.name;
    if (vm.mode === 'cpr-transfer') {
      steps.push(...abortHandOver(vm, 'abort-vms'));
      continue;
    }
    steps.push(
      s(
        `cont-old/${n}`,
        {
          blackout: true,
          vm: n,
          group: 'abort-vms',
          idempotent: true,
          check: { kind: 'vm-status', vm: n, status: ['running'] },
          onlyIf: { kind: 'vm-status', vm: n, status: ['paused', 'postmigrate'] },
          marks: { blackoutEnd: true },
          description: `${n}'s old QEMU is alive: continue it`,
        },
        {
          kind: 'qmp',
          vm: n,
          socket: vm.spec.qmp,
          command: 'cont',
        },
      ),
      ...restoreVm(ctx, vm, 'abort', 'abort-vms', { kind: 'vm-gone', vm: n }),
    );
  }
  steps.push(...restoreDomains(ctx, 'abort', 'abort-vms'));
  if (ctx.update === 'kernel')
    steps.push(
      s(
        'kexec-unload',
        { blackout: false, idempotent: true, check: null, description: 'unload the staged kernel' },
        { kind: 'exec', argv: ['kexec', '-u'] },
      ),
    );
  return steps;
}

/**
 * Convergence: whether the host is already where the update would take it, so that a second run of
 * the same profile changes nothing (as Terraform's plan, Ansible's `changed: false`). Pure.
 *
 * A kernel update has nothing to do when the running kernel is the image the profile loads (its
 * release and build string read from the image's setup header, src/kernel-image.ts), running with
 * the command line the plan would load, and every VM and domain of the profile runs. A VMM-only
 * update has nothing to do when every VM runs on the QEMU that would restore it (the same
 * executable, not replaced on disk since it started). Anything the facts do not show (an older
 * probe, an image that is not a bzImage) is not taken as done.
 */
import { otherKernel, parseImageIdentity } from '../kernel-image.js';
import { sameCmdline } from '../kernel-cmdline.js';
import { withoutBootloaderWords } from './cmdline.js';
import type { PlanContext } from './context.js';

/** Why there is nothing to do, or undefined when there is (or the facts cannot tell). */
export function upToDate(ctx: PlanContext): string | undefined {
  const { facts, profile } = ctx;
  const down = [
    ...ctx.vms.filter((v) => !v.running).map((v) => v.spec.name),
    ...(profile.libvirt?.domains ?? []).filter((d) => facts.libvirt?.domains.find((x) => x.name === d)?.state !== 'running'),
  ];
  if (down.length) return undefined;
  if (ctx.update === 'vmm') {
    if (profile.libvirt?.domains.length) return undefined; // which QEMU a domain runs is not probed
    const behind = ctx.vms.filter((v) => {
      const exe = facts.vms?.find((r) => r.name === v.spec.name)?.exe ?? '';
      return exe.endsWith(' (deleted)') || v.from.binary !== v.to.binary || !v.from.version || v.from.version !== v.to.version;
    });
    if (behind.length) return undefined;
    return `every VM runs on the QEMU that would restore it (${[...new Set(ctx.vms.map((v) => `${v.to.binary}: ${v.to.version}`))].join('; ') || 'no VMs'})`;
  }
  const image = facts.kexecImage?.build ? parseImageIdentity(facts.kexecImage.build) : undefined;
  if (!image || facts.kernelVersion === undefined) return undefined;
  if (otherKernel(image, { release: facts.kernelRelease, version: facts.kernelVersion })) return undefined;
  if (!sameCmdline(withoutBootloaderWords(facts.cmdline), ctx.kexecCmdline)) return undefined;
  const vms = ctx.vms.length + (profile.libvirt?.domains.length ?? 0);
  return `${facts.hostname} runs ${image.release} (${facts.kexecImage!.path}, built '${image.version}') with the command line the update would load${vms === 1 ? ', and its VM runs' : vms ? `, and its ${vms} VMs run` : ''}`;
}

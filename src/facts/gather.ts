import { LiveupdateError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Profile } from '../profile/types.js';
import { domainSaveImage } from '../profile/types.js';
import { parseProbeOutput } from './parse.js';
import { probeArgv, type ProbedVm } from './probe.js';
import type { HostFacts } from './types.js';

export interface ProbeTargets {
  qemu: string[];
  files: string[];
  /** the VMs: a running one is found by its liveupdate pidfile */
  vms?: ProbedVm[];
  /** folders to resolve as the host does (journal, device state) */
  dirs?: string[];
  /** libvirt's domains to read (their state, XML, RAM files) */
  libvirt?: { uri: string; domains: string[] };
  /** the kernel image the profile kexecs: its build string says whether it runs already */
  kernelImage?: string;
}

/** What the profile wants probed beyond the fixed set: its QEMU binaries and kexec files. */
export function probeTargets(profile: Profile | undefined): ProbeTargets {
  if (!profile) return { qemu: ['/usr/bin/qemu-system-x86_64'], files: [] };
  const qemu = [...new Set(profile.vms.flatMap((v) => [v.qemu.binary, v.qemu.restoreBinary]))];
  const files = [
    profile.kexec.kernel,
    ...(profile.kexec.initrd ? [profile.kexec.initrd] : []),
    // a domain saved and not restored yet is shut off with its image there
    ...(profile.libvirt?.domains ?? []).map((d) => domainSaveImage(profile.migration.stateDir, d)),
  ];
  return {
    qemu,
    files,
    vms: profile.vms.map((v) => ({ name: v.name, pidfile: v.pidfile })),
    dirs: [
      ...new Set([
        profile.journal.dir,
        profile.migration.stateDir,
        profile.runtime.dir,
        ...(profile.persistence.backend !== 'luo' ? [profile.persistence.mount] : []),
      ]),
    ],
    ...(profile.libvirt ? { libvirt: { uri: profile.libvirt.uri, domains: profile.libvirt.domains } } : {}),
    kernelImage: profile.kexec.kernel,
  };
}

/**
 * What was probed to get these facts: probing it again gives facts to compare with them. The facts
 * keep only the VMs found running, so the VMs asked for come from the plan (its VMs are the
 * profile's); facts without a `vms` section (an older probe) asked for none.
 */
export const probeTargetsOf = (f: HostFacts, vms: ProbedVm[]): ProbeTargets => ({
  qemu: f.qemu.map((q) => q.binary),
  files: Object.keys(f.files),
  vms: f.vms ? vms : [],
  dirs: Object.keys(f.paths ?? {}),
  ...(f.libvirt ? { libvirt: { uri: f.libvirt.uri, domains: f.libvirt.domains.map((d) => d.name) } } : {}),
  ...(f.kexecImage ? { kernelImage: f.kexecImage.path } : {}),
});

export function gatherFacts(host: Host, profile: Profile | undefined, now: () => Date = () => new Date()): Promise<HostFacts> {
  return probeFacts(host, probeTargets(profile), now);
}

export async function probeFacts(host: Host, t: ProbeTargets, now: () => Date = () => new Date()): Promise<HostFacts> {
  const r = await host.exec(probeArgv(t.qemu, t.files, t.vms, t.dirs, t.libvirt, t.kernelImage), { timeoutMs: 30_000 });
  if (r.exitCode !== 0 && !r.stdout.includes('@@ end')) {
    throw new LiveupdateError(
      'HOST_COMMAND_FAILED',
      `the fact probe failed on ${host.name} (exit ${r.exitCode}): ${r.stderr.trim().split('\n')[0] ?? ''}`,
    );
  }
  return parseProbeOutput(r.stdout, now().toISOString(), t.libvirt?.uri, t.kernelImage);
}

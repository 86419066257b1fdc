import type { HostFacts } from '../facts/types.js';
import type { Persistence, Profile, VmSpec } from '../profile/types.js';
import { atLeast, selectMigrationMode, migrationUris, type MigrationPath } from '../qemu/mode.js';
import { qemuArgv, vfioDeviceArgs } from '../qemu/argv.js';
import { judgeUpgrade, resolveMachine, type UpgradeVerdict } from '../qemu/versions.js';
import { resolveCarveOut, type ResolvedCarveOut } from './carveout.js';
import { composeKexecCmdline, missingBootParams, managedParams } from './cmdline.js';
import type { Phase, PlanVmQemu, Step, StepBody, StepMeta } from './types.js';

/** Everything the phase builders share, computed once from (profile, facts). Pure. */
export interface PlanContext {
  profile: Profile;
  facts: HostFacts;
  /** kernel: the full live update; vmm: the VMMs restart on the running kernel (no kernel is staged or jumped to) */
  update: 'kernel' | 'vmm';
  /** persistence with offset resolved to a number */
  persistence: Persistence;
  carveOut: ResolvedCarveOut | undefined;
  bootParams: string[];
  missingBootParams: string[];
  kexecCmdline: string;
  vms: VmContext[];
  /** pmem backend: the block device and namespace behind the carve-out */
  pmem: { device: string; namespace: string } | undefined;
  notes: string[];
}

/** A QEMU a VM runs on: before the update (the running one) or after (the one that restores it); the plan shows it as is. */
export type VmQemu = PlanVmQemu;

export interface VmContext {
  spec: VmSpec;
  mode: MigrationPath;
  modeWhy: string;
  /** why a VMM-only update does not hand it over with cpr-transfer (undefined: it does, or a kernel update) */
  cprWhyNot: string | undefined;
  /** the machine type the VM starts with the first time: the profile's alias resolved by `binary` */
  startMachine: string;
  /** `binary`'s version */
  startVersion: string | undefined;
  /** the QEMU that saves the VM and the one that restores it */
  from: VmQemu;
  to: VmQemu;
  /** whether `to` may load what `from` saves; undefined when a version is unknown */
  upgrade: UpgradeVerdict | undefined;
  /** the VM runs now (its pidfile names a live QEMU), per the facts; undefined: the facts did not look */
  running: boolean | undefined;
  ramPath: string;
  stateFile: string;
  /** the fingerprint of its guest RAM taken while it is paused before the kexec, checked before its new QEMU starts */
  ramFingerprint: string;
  pidfile: string;
  /** cpr-transfer: the new QEMU's own paths while the old one is alive (it takes the VM's after) */
  cpr: { pidfile: string; qmp: string; cprSocket: string; mainSocket: string; log: string };
  uris: { out: string; in: string };
  vfioArgs: string[];
}

export function buildContext(profile: Profile, facts: HostFacts, update: 'kernel' | 'vmm' = 'kernel'): PlanContext {
  const notes: string[] = [];
  const carveOut = profile.persistence.backend === 'luo' ? undefined : resolveCarveOut(profile.persistence, facts);
  const persistence: Persistence =
    profile.persistence.backend === 'luo'
      ? profile.persistence
      : { ...profile.persistence, offset: carveOut!.range.start, size: carveOut!.range.size };
  const vms = profile.vms.map((spec): VmContext => {
    const bin = facts.qemu.find((q) => q.binary === spec.qemu.binary);
    const restorer = facts.qemu.find((q) => q.binary === spec.qemu.restoreBinary);
    const running = facts.vms?.find((v) => v.name === spec.name);
    const startMachine = resolveMachine(spec.qemu.machine, bin?.aliases);
    // a running VM keeps the type it runs: never the alias resolved again by a newer binary
    const from: VmQemu = running
      ? { binary: running.exe.replace(/ \(deleted\)$/, ''), version: running.version, machine: running.machine ?? startMachine }
      : { binary: spec.qemu.binary, version: bin?.version, machine: startMachine };
    const to: VmQemu = { binary: spec.qemu.restoreBinary, version: restorer?.version, machine: from.machine };
    const upgrade =
      from.version && to.version
        ? judgeUpgrade({
            from: { version: from.version, machine: from.machine },
            to: { version: to.version, binary: to.binary, machines: restorer?.machines },
            acknowledged: profile.migration.acceptUntestedQemu,
          })
        : undefined;
    // the version that saves the state (the running QEMU's, else the binary's) decides the mode and the stream
    const cprFacts = {
      from: from.version,
      to: to.version,
      backend: profile.persistence.backend,
      running: facts.vms ? !!running : undefined,
      auxRamShare: running?.auxRamShare,
      passthrough: spec.vfio.length > 0,
      iommuApi: profile.iommu.api,
      accel: spec.qemu.accel,
    };
    const { mode, why, cprWhyNot } = selectMigrationMode(profile.migration.mode, from.version, update === 'vmm' ? cprFacts : undefined);
    const stateFile = `${profile.migration.stateDir}/${spec.name}.state`;
    const ramPath = persistence.backend === 'luo' ? `/proc/{holder.pid}/fd/{memfd.${spec.name}}` : `${persistence.mount}/${spec.ramFile}`;
    const vfioArgs = vfioDeviceArgs(spec.vfio, profile.iommu.api);
    if (mode === 'cpr-reboot' && spec.vfio.length) {
      notes.push(
        `${spec.name}: cpr-reboot with VFIO needs the guest suspended to RAM first (guest agent guest-suspend-ram, then system_wakeup after restore)`,
      );
    }
    return {
      spec,
      mode,
      modeWhy: why,
      cprWhyNot,
      startMachine,
      startVersion: bin?.version,
      from,
      to,
      upgrade,
      running: facts.vms ? !!running : undefined,
      ramPath,
      stateFile,
      ramFingerprint: `${stateFile}.ram-fingerprint`,
      pidfile: spec.pidfile,
      // {run.tag}: the run's own, so a QEMU an earlier hand-over started, removing its paths as it exits, never removes these;
      // all in the VM's own folder, as every path QEMU creates for it
      cpr: {
        pidfile: `${spec.runDir}/qemu-cpr-{run.tag}.pid`,
        qmp: `${spec.runDir}/qmp-cpr-{run.tag}.sock`,
        cprSocket: `${spec.runDir}/cpr-{run.tag}.sock`,
        mainSocket: `${spec.runDir}/migrate-{run.tag}.sock`,
        log: `${stateFile}.cpr.log`,
      },
      uris: migrationUris(stateFile, from.version),
      vfioArgs,
    };
  });
  if (persistence.backend === 'luo') notes.push('{holder.pid} and {memfd.VM} are filled in at run time from the LUO holder process');
  if (vms.some((v) => v.mode === 'cpr-transfer'))
    notes.push(
      "{run.tag} is the run's id (8 characters): a new QEMU's paths while the old one still has the VM's; {cpr.pid.VM} its pid, known once it started",
    );
  const bootParams = managedParams(persistence, false);
  let pmem: PlanContext['pmem'];
  if (persistence.backend === 'pmem') {
    // only the device whose physical start is the carve-out's, never one chosen because it is the only one
    // (the fact rules refuse a named device elsewhere)
    const found = facts.pmem.find(
      (d) =>
        d.start !== undefined &&
        d.start === carveOut?.range.start &&
        (persistence.device === 'auto' || `/dev/${d.name}` === persistence.device),
    );
    if (found) pmem = { device: `/dev/${found.name}`, namespace: found.namespace ?? '{pmem.namespace}' };
    else {
      pmem = { device: persistence.device === 'auto' ? '{pmem.device}' : persistence.device, namespace: '{pmem.namespace}' };
      notes.push('{pmem.device} and {pmem.namespace} are found at run time: the carve-out is not active on this boot yet');
    }
  }
  return {
    profile,
    facts,
    persistence,
    pmem,
    update,
    carveOut,
    bootParams,
    missingBootParams: missingBootParams(persistence, facts.cmdline),
    kexecCmdline: composeKexecCmdline(profile, persistence, facts.cmdline).cmdline,
    vms,
    notes,
  };
}

/**
 * A restore (`restore`: from a state file; `cpr`: handed over by cpr-transfer) runs the QEMU that
 * restores, on the type the VM runs; a first start the profile's binary, its alias resolved. QEMU
 * 10.0+ starts with aux-ram-share=on, so the next VMM-only update can hand the VM over.
 */
export function vmArgv(ctx: PlanContext, vm: VmContext, how: 'start' | 'restore' | 'cpr'): string[] {
  const start = how === 'start';
  const qemu = start ? { binary: vm.spec.qemu.binary, machine: vm.startMachine } : { binary: vm.to.binary, machine: vm.to.machine };
  const base = {
    vm: vm.spec,
    ...qemu,
    ramPath: vm.ramPath,
    vfioArgs: vm.vfioArgs,
    auxRamShare: atLeast(start ? vm.startVersion : vm.to.version, 10, 0),
  };
  if (how === 'cpr')
    return qemuArgv({ ...base, pidfile: vm.cpr.pidfile, qmp: vm.cpr.qmp, incoming: { main: vm.cpr.mainSocket, cpr: vm.cpr.cprSocket } });
  return qemuArgv({ ...base, pidfile: vm.pidfile, ...(start ? {} : { incoming: 'defer' as const }) });
}

/** Step factory with the phase's defaults; ids are `phase/name`. */
export function stepper(phase: Phase) {
  return (name: string, meta: Omit<StepMeta, 'id' | 'phase'>, body: StepBody): Step => ({
    id: `${phase}/${name}`,
    phase,
    ...meta,
    ...body,
  });
}

/**
 * Rules that need the host's facts as well as the profile (a carve-out that fits, a mount that is
 * there, a QEMU new enough): the planner runs them before it builds anything.
 */
import { DEFAULT_AGENT_DIR } from '../defaults.js';
import type { Diagnostic } from '../errors.js';
import type { HostFacts, Mount } from '../facts/types.js';
import { byPosition } from '../input/position.js';
import { Findings, isWithin } from '../profile/rules.js';
import type { Locate, Profile } from '../profile/types.js';
import { domainSaveImage } from '../profile/types.js';
import { readDomainXml, type DomainXml } from '../facts/domain-xml.js';
import { formatSize, GiB, hex } from '../units.js';
import { atLeast } from '../qemu/mode.js';
import { resolveCarveOut } from './carveout.js';
import { managedParams, missingBootParams } from './cmdline.js';
import { RUN_DIR } from './types.js';
import { changesMemoryMap, notOneParam, parseKernelCmdline } from '../kernel-cmdline.js';

function mountFor(path: string, mounts: Mount[]): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const t = m.target.endsWith('/') ? m.target : `${m.target}/`;
    if ((path === m.target || path.startsWith(t) || m.target === '/') && (!best || m.target.length > best.target.length)) best = m;
  }
  return best;
}

const VOLATILE_FS = new Set(['tmpfs', 'ramfs', 'devtmpfs']);

/**
 * The carve-out's mount point, judged where the host resolves it and by what is there now (not by a
 * list of names): mounting over a folder hides what is in it until the kexec phase unmounts it, so
 * the mount point is a folder of its own, missing or empty, or the carve-out already mounted there;
 * it is not in, and does not hold, a folder liveupdate keeps (journal, device state, the VMs' folders, the agent).
 * The mount step checks again on the host that the folder is empty before it mounts.
 */
function mountPointRules(profile: Profile, mount: string, facts: HostFacts, f: Findings): void {
  const real = facts.paths?.[mount] ?? mount;
  const spelt = real !== mount ? `${mount} (${real} on this host)` : mount;
  const fs = profile.persistence.backend === 'pkernfs' ? 'pkernfs' : 'ext4';
  const here = facts.mounts.filter((m) => m.target === real).at(-1);
  // the carve-out mounted already reads as the prepare step's own check does (its file system type there)
  const ours = here !== undefined && here.fstype === fs;
  const at = ['persistence', 'mount'];
  if (here && !ours) {
    f.error(
      at,
      `${spelt} is already the mount point of ${here.source} (${here.fstype}) on this host: the carve-out needs a folder of its own`,
    );
    return;
  }
  const holds = facts.pathHolds?.[mount];
  if (!ours && holds === 'files')
    f.error(
      at,
      `${spelt} has files in it on this host: mounting the carve-out there would hide them until the kexec phase unmounts it; use an empty folder of its own, like /mnt/${profile.persistence.backend}`,
    );
  else if (holds === 'other') f.error(at, `${spelt} is not a folder on this host`);
  const kept: Array<[string, string]> = [
    [profile.journal.dir, 'the journal'],
    [profile.runtime.dir, "the VMs' folders"],
    [RUN_DIR, "liveupdate's sockets"],
    [DEFAULT_AGENT_DIR, "liveupdate's agent"],
  ];
  for (const [dir, what] of kept) {
    const r = facts.paths?.[dir] ?? dir;
    if (isWithin(r, real) || isWithin(real, r)) {
      f.error(
        at,
        `${spelt} and ${what} (${dir}${r !== dir ? `, ${r} on this host` : ''}) overlap: the carve-out is mounted over its mount point and unmounted before the kexec`,
      );
      return;
    }
  }
}

/** Rules that need the host's facts. */
export function factRules(profile: Profile, facts: HostFacts, locate: Locate): { errors: Diagnostic[]; warnings: Diagnostic[] } {
  const f = new Findings(locate);
  const p = profile.persistence;

  if (p.backend !== 'luo') {
    const r = resolveCarveOut(p, facts);
    for (const msg of r?.problems ?? []) f.error(['persistence', p.offset === 'auto' ? 'size' : 'offset'], msg);
    if (r && !r.problems.length) {
      // the carve-out needs boot parameters this boot lacks: only GRUB (update-grub) and grubby are edited here
      const resolved = { ...p, offset: r.range.start, size: r.range.size };
      const missing = missingBootParams(resolved, facts.cmdline);
      if (missing.length && (facts.bootloader === 'systemd-boot' || facts.bootloader === 'unknown')) {
        const words = managedParams(resolved, false);
        const params = words.join(' ');
        // the line /etc/kernel/cmdline should hold: this boot's parameters (less what the loader adds itself), then the carve-out's
        // (the carve-out's words before any `--`: after it they would go to init)
        const running = parseKernelCmdline(facts.cmdline);
        const kernel = running.params.filter((w) => !['BOOT_IMAGE', 'initrd'].includes(w.name)).map((w) => w.raw);
        const line = [...kernel, ...words, ...(running.terminated ? ['--', running.init.trimEnd()] : [])].join(' ').trimEnd();
        f.error(
          ['persistence', 'backend'],
          facts.bootloader === 'systemd-boot'
            ? `the carve-out needs '${params}' on the kernel command line, and this host boots with systemd-boot, which liveupdate does not edit: write this one line to /etc/kernel/cmdline: ${line} ; then run 'kernel-install add $(uname -r) /boot/vmlinuz-$(uname -r)' and reboot`
            : `the carve-out needs '${params}' on the kernel command line, and this host has none of GRUB's update-grub, grubby or systemd-boot's kernel-install: add '${params}' to the options of its boot entry by hand and reboot`,
        );
      }
    }
    // the namespace and mkfs steps are destructive: they act only on the device that is the carve-out, proven by its physical start
    if (p.backend === 'pmem' && r?.active && p.device !== 'auto') {
      const named = facts.pmem.find((d) => `/dev/${d.name}` === p.device.replace(/\.[0-9]+$/, ''));
      if (named && named.start !== r.range.start) {
        f.error(
          ['persistence', 'device'],
          `${p.device} starts at ${named.start === undefined ? 'an unknown address' : hex(named.start)}, not at the carve-out's ${hex(r.range.start)}: liveupdate formats only the device that is the carve-out`,
        );
      }
    }
  }
  // the next kernel's line starts from this boot's (policy reuse): what would hide or move the carve-out is refused
  const c = profile.kexec.cmdline;
  if (c.policy === 'reuse') {
    const removed = new Set(c.remove);
    for (const param of parseKernelCmdline(facts.cmdline).params) {
      // the carve-out's own words (memmap=nn!ss, memmap=nn%ss...) are replaced by the managed set
      if (removed.has(param.name) || (param.name === 'memmap' && /[!%]/.test(param.value ?? ''))) continue;
      const bad = notOneParam(param.raw);
      if (bad)
        f.error(
          ['kexec', 'cmdline', 'policy'],
          `this boot's command line has '${param.raw}', which ${bad}; the next kernel's line starts from it: give the whole line with policy: replace`,
        );
      else if (changesMemoryMap(param))
        f.error(
          ['kexec', 'cmdline', 'remove'],
          `this boot's command line has '${param.raw}', which changes the next kernel's memory map (it holds the carve-out): add '${param.name}' to kexec.cmdline.remove`,
        );
    }
  }
  if (p.backend === 'pkernfs' && !facts.filesystems.includes('pkernfs')) {
    f.error(
      ['persistence', 'backend'],
      `the running kernel (${facts.kernelRelease}) has no pkernfs filesystem; it needs a kernel built from the pkernfs RFC`,
    );
  }
  if (p.backend === 'pmem' && p.device !== 'auto' && !facts.pmem.some((d) => `/dev/${d.name}` === p.device.replace(/\.[0-9]+$/, ''))) {
    f.error(
      ['persistence', 'device'],
      `${p.device} is not on this host (it has ${facts.pmem.map((d) => d.name).join(', ') || 'no pmem devices'})`,
    );
  }
  if (p.backend === 'luo') {
    if (!facts.devices.liveupdate)
      f.error(
        ['persistence', 'backend'],
        `the running kernel (${facts.kernelRelease}) has no /dev/liveupdate (LUO needs Linux 6.19+ with CONFIG_LIVEUPDATE and liveupdate=on)`,
      );
    const total = profile.vms.reduce((n, v) => n + v.memory, 0);
    if (facts.memTotal && total > facts.memTotal - GiB) {
      f.error(
        ['vms'],
        `the VMs need ${formatSize(total)} of memfd RAM but the host has ${formatSize(Math.floor(facts.memTotal / 2 ** 20) * 2 ** 20)} (1 GiB kept for the host)`,
      );
    }
  }
  if (p.backend === 'pkernfs' && facts.numa.length > 1) {
    f.warn(['persistence'], `this host has ${facts.numa.length} NUMA nodes; pkernfs is one filesystem with no NUMA awareness`);
  }
  for (const [dir, path] of [
    [profile.journal.dir, ['journal', 'dir']],
    [profile.migration.stateDir, ['migration', 'stateDir']],
  ] as const) {
    // judged where the host resolves it (a symlink such as /var/run -> /run), not as it is spelt
    const real = facts.paths?.[dir] ?? dir;
    const m = mountFor(real, facts.mounts);
    if (m && VOLATILE_FS.has(m.fstype))
      f.error(
        [...path],
        `${dir}${real !== dir ? ` (${real} on this host)` : ''} is on ${m.fstype} (${m.target}) on this host and will not survive the kexec`,
      );
  }
  if (p.backend !== 'luo') mountPointRules(profile, p.mount, facts, f);
  const kernelSize = facts.files[profile.kexec.kernel];
  if (kernelSize === null) f.error(['kexec', 'kernel'], `${profile.kexec.kernel} does not exist on ${facts.hostname}`);
  if (profile.kexec.initrd && facts.files[profile.kexec.initrd] === null)
    f.error(['kexec', 'initrd'], `${profile.kexec.initrd} does not exist on ${facts.hostname}`);

  const anyVfio = profile.vms.some((v) => v.vfio.length);
  if (anyVfio && profile.iommu.api === 'iommufd' && !facts.devices.iommu) {
    f.error(
      ['iommu', 'api'],
      `the running kernel (${facts.kernelRelease}) has no /dev/iommu (CONFIG_IOMMUFD is not set); use api: vfio-container`,
    );
  }
  profile.vms.forEach((vm, i) => {
    const q = facts.qemu.find((x) => x.binary === vm.qemu.binary);
    if (!q?.version) f.error(['vms', i, 'qemu', 'binary'], `${vm.qemu.binary} is missing on ${facts.hostname} or did not report a version`);
    else if (profile.migration.mode === 'cpr-reboot' && !atLeast(q.version, 8, 2)) {
      f.error(['migration', 'mode'], `cpr-reboot needs QEMU 8.2 or newer; ${vm.qemu.binary} is ${q.version}`);
    }
    if (vm.qemu.restoreBinary !== vm.qemu.binary && !facts.qemu.find((x) => x.binary === vm.qemu.restoreBinary)?.version) {
      f.error(['vms', i, 'qemu', 'restoreBinary'], `${vm.qemu.restoreBinary} is missing on ${facts.hostname} or did not report a version`);
    }
    if (
      vm.vfio.length &&
      q?.version &&
      (profile.migration.mode === 'x-ignore-shared' || (profile.migration.mode === 'auto' && !atLeast(q.version, 8, 2)))
    ) {
      f.error(
        ['vms', i, 'vfio'],
        `QEMU ${q.version} cannot save a VM with a passed-through device: vfio-pci blocks migration unless the device has a migration driver, and x-ignore-shared does not lift that. ` +
          `cpr-reboot (QEMU 8.2+) keeps VFIO devices when the guest is suspended to RAM first`,
      );
    }
    if (vm.qemu.accel.startsWith('kvm') && !facts.devices.kvm)
      f.error(['vms', i, 'qemu', 'accel'], `kvm was asked for but ${facts.hostname} has no /dev/kvm`);
    vm.vfio.forEach((d, j) => {
      const dev = facts.pci.find((x) => x.address === d.host);
      if (!dev) {
        f.error(['vms', i, 'vfio', j, 'host'], `no PCI device ${d.host} on ${facts.hostname}`);
        return;
      }
      if (dev.iommuGroup === undefined) {
        f.error(
          ['vms', i, 'vfio', j, 'host'],
          `${d.host} is in no IOMMU group: boot with intel_iommu=on (or amd_iommu=on) to pass it through`,
        );
        return;
      }
      const peers = facts.pci.filter((x) => x.iommuGroup === dev.iommuGroup && x.address !== d.host);
      const busy = peers.filter((x) => x.driver && x.driver !== 'vfio-pci' && x.driver !== 'pcieport');
      if (busy.length) {
        f.error(
          ['vms', i, 'vfio', j, 'host'],
          `IOMMU group ${dev.iommuGroup} is not viable: ${busy.map((x) => `${x.address} (${x.driver})`).join(', ')} share it and are bound to host drivers`,
        );
      }
    });
  });
  libvirtRules(profile, facts, f);
  return { errors: byPosition(f.errors), warnings: byPosition(f.warnings) };
}

/** The QEMU that can be given x-ignore-shared on its command line (`-global migration.x-ignore-shared=on`). */
const IGNORE_SHARED_ON_ARGV = { major: 11, minor: 0 };

/** A carve-out that holds the domains' save images (their RAM, device state and room to spare) beside the VMs' RAM files. */
export const carveOutForSaveImages = (domainRam: number, vmRam = 0): number => vmRam + domainRam + 64 * 2 ** 20;

/** The domain XML that backs guest RAM with a shared file (under qemu.conf's memory_backing_dir). */
export const SHARED_FILE_RAM = "<memoryBacking><source type='file'/><access mode='shared'/></memoryBacking>";

/**
 * What keeps a domain's RAM from staying in place across the update: RAM that is not a shared file,
 * RAM files put off the carve-out (`backingDir` and `mount` as the host resolves them; no mount: not
 * judged), a QEMU that cannot take x-ignore-shared on its command line. The plan's rules and
 * `profile import` say each in their own words.
 */
export function inPlaceGaps(
  d: DomainXml & { emulatorVersion: string | undefined },
  backingDir: string,
  mount: string | undefined,
): Array<'shared-file-ram' | 'backing-dir' | 'qemu'> {
  return [
    ...(d.ramSource !== 'file' || d.ramAccess !== 'shared' ? (['shared-file-ram'] as const) : []),
    ...(mount !== undefined && !isWithin(backingDir, mount) ? (['backing-dir'] as const) : []),
    ...(!atLeast(d.emulatorVersion, IGNORE_SHARED_ON_ARGV.major, IGNORE_SHARED_ON_ARGV.minor) ? (['qemu'] as const) : []),
  ];
}

/**
 * libvirt's domains, as libvirt reports them now: each one there, running, with no device liveupdate
 * cannot keep, and its RAM where the chosen path needs it. A refusal says what to change, in the
 * file it is changed in (the domain's XML, qemu.conf, the profile).
 */
function libvirtRules(profile: Profile, facts: HostFacts, f: Findings): void {
  const lv = profile.libvirt;
  if (!lv) return;
  const lf = facts.libvirt;
  if (!lf) {
    f.error(['libvirt'], `the facts have no libvirt section (read before this profile named domains): gather them again with this profile`);
    return;
  }
  if (!lf.version) {
    f.error(
      ['libvirt'],
      `virsh is not installed on ${facts.hostname}: liveupdate drives libvirt through virsh (Debian: apt-get install libvirt-clients)`,
    );
    return;
  }
  if (!lf.daemonVersion) {
    f.error(['libvirt', 'uri'], `libvirt does not answer on ${lv.uri} on ${facts.hostname} (virsh -c ${lv.uri} version --daemon)`);
    return;
  }
  const p = profile.persistence;
  const mount = p.backend === 'luo' ? undefined : p.mount;
  const real = (path: string): string => facts.paths?.[path] ?? path;
  let ram = 0;
  lv.domains.forEach((name, i) => {
    const at = ['libvirt', 'domains', i];
    const found = lf.domains.find((x) => x.name === name);
    const d = found && { ...found, ...readDomainXml(found.xml) };
    if (!d || d.state === 'missing') {
      f.error(at, `libvirt on ${facts.hostname} has no domain '${name}' (virsh -c ${lv.uri} list --all)`);
      return;
    }
    if (d.state !== 'running') {
      // saved by a run and not restored yet: its image is there, and resume restores it
      const image = domainSaveImage(profile.migration.stateDir, name);
      if (d.state === 'shut off' && typeof facts.files[image] === 'number') return;
      f.error(at, `${name} is ${d.state}: only a running domain is updated (nothing of a stopped one is in memory to keep)`);
      return;
    }
    ram += d.memory ?? 0;
    if (d.hostdevs)
      f.error(
        at,
        `${name} passes ${d.hostdevs} host device${d.hostdevs === 1 ? '' : 's'} through (<hostdev> in its XML): a passed-through device is not kept across the update under libvirt yet`,
      );
    if (lv.ram === 'in-place') {
      const lines = inPlaceGaps(d, real(lf.memoryBackingDir), mount && real(mount)).map((gap) =>
        gap === 'shared-file-ram'
          ? `its RAM must be a shared file: add ${SHARED_FILE_RAM} to its XML (virsh edit ${name}; it takes effect at its next cold start)`
          : gap === 'backing-dir'
            ? `libvirt puts RAM files in ${lf.memoryBackingDir}, not on the carve-out: set memory_backing_dir = "${mount}/libvirt-ram" in /etc/libvirt/qemu.conf and restart libvirtd`
            : `its QEMU (${d.emulator ?? 'emulator unknown'}, ${d.emulatorVersion ?? 'version unknown'}) cannot be given x-ignore-shared on its command line (11.0+ can): the restored QEMU would have to be set up over a monitor of its own, racing libvirt's migrate-incoming`,
      );
      lines.push(
        `in place is not driven by liveupdate yet: the libvirt tested (11.3, the newest Debian 12 has) cannot save a domain on QEMU 11 (it sends migrate's 'detach', which QEMU 11 refuses); set libvirt.ram: copy to save the RAM into an image on the carve-out instead (docs/libvirt.md)`,
      );
      for (const l of lines) f.error(at, `${name}: ${l}`);
    }
  });
  if (lv.ram === 'copy' && mount && !isWithin(real(profile.migration.stateDir), real(mount)))
    f.error(
      ['migration', 'stateDir'],
      `the domains' save images go to ${profile.migration.stateDir}, which is not on the carve-out (${mount}): they would not survive the kexec; leave migration.stateDir unset (${mount}/state)`,
    );
  if (lv.ram === 'copy' && p.backend !== 'luo' && p.size > 0) {
    const vms = profile.vms.reduce((n, v) => n + v.memory, 0);
    if (vms + ram > p.size)
      f.error(
        ['persistence', 'size'],
        `the carve-out (${formatSize(p.size)}) cannot hold the domains' save images (${formatSize(ram)} of RAM)${vms ? ` beside the VMs' RAM (${formatSize(vms)})` : ''}: make it at least ${formatSize(carveOutForSaveImages(ram, vms))}`,
      );
  }
}

/**
 * The domains libvirt runs that the profile does not name: a kexec ends their QEMUs with no save, so
 * a plan that kexecs is refused while any runs (a VMM-only update leaves them alone).
 */
export function domainsTheKexecEnds(profile: Profile, facts: HostFacts, locate: Locate): Diagnostic[] {
  const lv = profile.libvirt;
  const others = lv ? (facts.libvirt?.running ?? []).filter((d) => !lv.domains.includes(d)) : [];
  if (!lv || !others.length) return [];
  const f = new Findings(locate);
  const one = others.length === 1;
  f.error(
    ['libvirt', 'domains'],
    `libvirt on ${facts.hostname} also runs ${others.join(', ')}, which the profile does not name: the kexec would end ${one ? 'it' : 'them'} unsaved. ` +
      `Name ${one ? 'it' : 'them'} here, or shut ${one ? 'it' : 'them'} down first (virsh -c ${lv.uri} shutdown ${one ? others[0] : 'NAME'})`,
  );
  return f.errors;
}

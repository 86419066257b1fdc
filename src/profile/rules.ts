import { changesMemoryMap, notOneParam, parseKernelCmdline } from '../kernel-cmdline.js';
import type { Diagnostic } from '../errors.js';
import { pkernfsLayout, pmemLayout } from './layout.js';
import { formatDuration, formatSize, GiB, MAX_DURATION_MS, MAX_SIZE, TWO_MIB } from '../units.js';
import { argsProblems } from './qemu-options.js';
import { fieldPath } from '../input/yaml.js';
import type { Locate, Profile } from './types.js';

export type Path = Array<string | number>;

/** Errors and warnings with the file position of the field each is about. */
export class Findings {
  errors: Diagnostic[] = [];
  warnings: Diagnostic[] = [];
  constructor(private readonly locate: Locate) {}
  error(path: Path, message: string): void {
    this.errors.push({ where: this.locate(path), field: fieldPath(path) || '(top level)', message });
  }
  warn(path: Path, message: string): void {
    this.warnings.push({ where: this.locate(path), field: fieldPath(path) || '(top level)', message });
  }
}

const PCI_ADDRESS = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;

/** Cross-field rules that need only the profile. */
export function staticRules(profile: Profile, locate: Locate): { errors: Diagnostic[]; warnings: Diagnostic[] } {
  const f = new Findings(locate);
  const p = profile.persistence;
  numberRules(profile, f);
  pathRules(profile, f);

  if (p.backend !== 'luo') {
    if (p.size === 0) f.error(['persistence', 'size'], `the ${p.backend} backend needs a carve-out size, like 1G`);
    else if (p.size % TWO_MIB !== 0) f.error(['persistence', 'size'], `must be a multiple of 2 MiB (got ${formatSize(p.size)})`);
    if (p.offset !== 'auto' && p.offset % TWO_MIB !== 0)
      f.error(['persistence', 'offset'], `must be 2 MiB aligned (got ${formatSize(p.offset)})`);
    if (p.offset !== 'auto' && p.offset < GiB) f.warn(['persistence', 'offset'], `a carve-out below 1 GiB takes memory from the DMA zones`);
    if (p.size > 0 && p.size % TWO_MIB === 0) {
      const layout = p.backend === 'pkernfs' ? pkernfsLayout(profile, p) : pmemLayout(profile, p);
      for (const pr of layout.problems) {
        const i = pr.vm ? profile.vms.findIndex((v) => v.name === pr.vm) : -1;
        f.error(i >= 0 ? ['vms', i, pr.message.includes('name') ? 'ramFile' : 'memory'] : ['persistence', 'size'], pr.message);
      }
    }
  }

  libvirtRules(profile, f);
  const names = new Map<string, number>();
  const ramFiles = new Map<string, number>();
  const domains = new Map<string, number>();
  const pciSeen = new Map<string, number>();
  profile.vms.forEach((vm, i) => {
    const dup = (seen: Map<string, number>, key: string, field: Path, what: string): void => {
      const first = seen.get(key);
      if (first !== undefined) f.error(field, `${what} '${key}' is already used by vms[${first}]`);
      else seen.set(key, i);
    };
    dup(names, vm.name, ['vms', i, 'name'], 'VM name');
    if (p.backend !== 'luo') dup(ramFiles, vm.ramFile, ['vms', i, 'ramFile'], 'guest RAM file');
    if (p.backend === 'pkernfs' && vm.memory % TWO_MIB !== 0)
      f.error(['vms', i, 'memory'], `must be a multiple of 2 MiB on pkernfs (its blocks are 2 MiB)`);
    // read as QEMU reads them (profile/qemu-options.ts): options, their values, and what each does
    for (const { index, message } of argsProblems(vm.qemu.args)) f.error(['vms', i, 'qemu', 'args', index], message);
    vm.qemu.args.forEach((a, j) => {
      const rel = /(?:^|,)file=([^,]+)/.exec(a);
      if (rel && !rel[1]!.startsWith('/') && !rel[1]!.includes(':')) {
        // -daemonize changes to /, and QEMU reopens images by name when a migration completes
        f.error(
          ['vms', i, 'qemu', 'args', j],
          `relative path '${rel[1]}': QEMU runs with -daemonize, which changes to /; use an absolute path`,
        );
      }
      if (p.backend === 'luo' && /hugetlb|hugepages|-mem-path/.test(a))
        f.error(['vms', i, 'qemu', 'args', j], `LUO preserves only plain shmem memfds: hugetlb memory cannot be preserved`);
      if (p.backend === 'luo' && /(?:^|,)(?:maxmem|slots)=|^pc-dimm|virtio-mem|virtio-balloon/.test(a)) {
        f.error(
          ['vms', i, 'qemu', 'args', j],
          `'${a}': a preserved memfd's size is frozen, so guest memory cannot grow or be ballooned under LUO`,
        );
      }
    });
    vm.vfio.forEach((d, j) => {
      const m = PCI_ADDRESS.exec(d.host);
      if (!m) f.error(['vms', i, 'vfio', j, 'host'], `'${d.host}' is not a PCI address like 0000:00:04.0`);
      else if (parseInt(m[3]!, 16) > 0x1f) f.error(['vms', i, 'vfio', j, 'host'], `device number ${m[3]} is out of range (00-1f)`);
      dup(pciSeen, d.host, ['vms', i, 'vfio', j, 'host'], 'PCI device');
      if (p.backend === 'pkernfs') dup(domains, d.iommuDomain, ['vms', i, 'vfio', j, 'iommuDomain'], 'IOMMU domain file');
      if (p.backend === 'pkernfs' && d.pgtables % TWO_MIB !== 0)
        f.error(['vms', i, 'vfio', j, 'pgtables'], `must be a multiple of 2 MiB (pkernfs blocks)`);
    });
    if (vm.vfio.length) {
      const keeps = p.backend === 'pkernfs' && profile.iommu.api === 'vfio-container';
      if (p.backend === 'pkernfs' && profile.iommu.api === 'iommufd') {
        f.error(
          ['iommu', 'api'],
          `the pkernfs RFC persists IOMMU page tables only through VFIO_CONTAINER_SET_PERSISTENT_PGTABLES on a legacy VFIO container; use api: vfio-container with pkernfs, or set dmaStopsDuringUpdate`,
        );
      } else if (!keeps && !profile.iommu.dmaStopsDuringUpdate) {
        f.error(
          ['vms', i, 'vfio'],
          `the ${p.backend} backend cannot keep IOMMU state across kexec, so device DMA stops during the update; ` +
            `use the pkernfs backend, or acknowledge with iommu.dmaStopsDuringUpdate: true`,
        );
      }
    }
  });

  if (profile.migration.mode === 'cpr-transfer') {
    f.error(
      ['migration', 'mode'],
      `cpr-transfer keeps the old and new QEMU alive at once over a socket; it cannot span a kexec. Use cpr-reboot or x-ignore-shared (or auto)`,
    );
  }
  const c = profile.kexec.cmdline;
  if (c.policy === 'replace' && !c.value) f.error(['kexec', 'cmdline', 'value'], `policy: replace needs the full cmdline in 'value'`);
  if (c.policy === 'reuse' && c.value) f.error(['kexec', 'cmdline', 'value'], `'value' is only read with policy: replace`);
  // each word as the kernel will read it (src/kernel-cmdline.ts): one parameter, before any `--`, not the memory map's
  c.append.forEach((w, i) => {
    const bad = notOneParam(w);
    if (bad) f.error(['kexec', 'cmdline', 'append', i], `'${w}' ${bad}`);
    else if (changesMemoryMap(parseKernelCmdline(w).params[0]!))
      f.error(
        ['kexec', 'cmdline', 'append', i],
        `'${w}' changes the next kernel's memory map, which holds the carve-out: liveupdate manages it`,
      );
  });
  c.remove.forEach((w, i) => {
    if (!/^[A-Za-z0-9_.-]+$/.test(w))
      f.error(['kexec', 'cmdline', 'remove', i], `'${w}' is not a parameter name (letters, digits, '_', '.', '-'; no '=')`);
  });
  if (c.value !== undefined) {
    const parsed = parseKernelCmdline(c.value);
    const open = parsed.params.find((p) => notOneParam(p.raw));
    if (open) f.error(['kexec', 'cmdline', 'value'], `'${open.raw}' ${notOneParam(open.raw)!}`);
    const map = parsed.params.find(changesMemoryMap);
    if (map)
      f.error(
        ['kexec', 'cmdline', 'value'],
        `'${map.raw}' changes the next kernel's memory map, which holds the carve-out: liveupdate manages it`,
      );
  }
  if (!profile.kexec.signed) f.warn(['kexec', 'unsigned'], `the kernel will be loaded with kexec -l, without signature verification`);
  for (const dir of [profile.journal.dir, profile.migration.stateDir]) {
    if (/^\/(run|tmp|dev\/shm)(\/|$)/.test(dir)) {
      f.error(
        dir === profile.journal.dir ? ['journal', 'dir'] : ['migration', 'stateDir'],
        `${dir} is on tmpfs on most hosts and will not survive the kexec`,
      );
    }
  }
  return { errors: f.errors, warnings: f.warnings };
}

/** Every size and duration within bounds, each message naming its bound (a size past 2^53 is not exact; a timer past 2^31 ms fires at once). */
function numberRules(profile: Profile, f: Findings): void {
  const size = (path: Path, bytes: number | undefined, min: number): void => {
    if (bytes === undefined) return;
    if (!Number.isSafeInteger(bytes) || bytes > MAX_SIZE) f.error(path, `larger than ${formatSize(MAX_SIZE)}, the most liveupdate takes`);
    else if (bytes < min) f.error(path, `must be at least ${formatSize(min)}`);
  };
  const duration = (path: Path, ms: number, min: number): void => {
    if (!Number.isSafeInteger(ms) || ms < min || ms > MAX_DURATION_MS)
      f.error(path, `must be between ${formatDuration(min)} and ${formatDuration(MAX_DURATION_MS)}`);
  };
  const p = profile.persistence;
  if (p.backend !== 'luo') {
    if (p.size > 0) size(['persistence', 'size'], p.size, TWO_MIB);
    if (p.offset !== 'auto') size(['persistence', 'offset'], p.offset, 0);
  } else size(['persistence', 'kho', 'scratch'], p.khoScratch, 2 ** 20);
  profile.vms.forEach((vm, i) => {
    size(['vms', i, 'memory'], vm.memory, 2 ** 20);
    vm.vfio.forEach((d, j) => size(['vms', i, 'vfio', j, 'pgtables'], d.pgtables, 4096));
  });
  duration(['kexec', 'bootTimeout'], profile.kexec.bootTimeoutMs, 1000);
  duration(['migration', 'timeout'], profile.migration.timeoutMs, 1000);
}

/** Paths (already normalised by the loader): the journal outside the mount point, the VMs' folders apart, RAM file names one plain component, no two managed paths the same. */
function pathRules(profile: Profile, f: Findings): void {
  const p = profile.persistence;
  if (p.backend !== 'luo') {
    // what is at the mount point is judged on the host, with the facts (plan/rules.ts): missing or empty, never a folder with files
    if (isWithin(profile.journal.dir, p.mount))
      f.error(
        ['persistence', 'mount'],
        `the journal (${profile.journal.dir}) would be inside the carve-out's mount point, which is unmounted before the kexec`,
      );
  }
  // the VMs' folders are liveupdate's alone: nothing else it keeps is in them, and they are in nothing it mounts or keeps
  const rt = profile.runtime.dir;
  const others: Array<[string, string]> = [
    ...(p.backend !== 'luo' ? ([[p.mount, "the carve-out's mount point"]] as Array<[string, string]>) : []),
    [profile.journal.dir, 'the journal'],
    [profile.migration.stateDir, 'the device-state folder'],
  ];
  const overlap = others.find(([dir]) => isWithin(rt, dir) || isWithin(dir, rt));
  if (overlap)
    f.error(
      ['runtime', 'dir'],
      `${rt} and ${overlap[1]} (${overlap[0]}) overlap: the VMs' folders (${rt}/vms/<name>, their QMP sockets and pidfiles) need a folder of their own`,
    );
  // every file and socket liveupdate creates or replaces, with the field that names it; QEMU unlinks a socket path before it binds
  // (two of one kind, e.g. two VMs' QMP sockets, are said by the rules above)
  const owners = new Map<string, { path: Path; what: string; kind: string }>();
  const claim = (file: string, path: Path, what: string, kind: string): void => {
    const first = owners.get(file);
    if (!first) owners.set(file, { path, what, kind });
    else if (first.kind !== kind)
      f.error(path, `${file} is also ${first.what} (${fieldPath(first.path)}): each file liveupdate manages needs a path of its own`);
  };
  profile.vms.forEach((vm, i) => {
    if (vm.ramFile === '.' || vm.ramFile === '..') f.error(['vms', i, 'ramFile'], `'${vm.ramFile}' is not a file name`);
    else if (p.backend !== 'luo') claim(`${p.mount}/${vm.ramFile}`, ['vms', i, 'ramFile'], `${vm.name}'s guest RAM file`, 'ram');
    claim(`${profile.migration.stateDir}/${vm.name}.state`, ['vms', i, 'name'], `${vm.name}'s saved state`, 'state');
  });
}

/** `path` is `dir` or inside it (both absolute and normalised). */
export const isWithin = (path: string, dir: string): boolean => path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);

/** A profile updates something: VMs it starts, or libvirt's domains; and a name means one of them. */
function libvirtRules(profile: Profile, f: Findings): void {
  const lv = profile.libvirt;
  if (!lv) {
    if (!profile.vms.length) f.error(['vms'], 'must list at least one VM, or name libvirt domains under libvirt.domains');
    return;
  }
  lv.domains.forEach((d, i) => {
    const vm = profile.vms.findIndex((v) => v.name === d);
    if (vm >= 0) f.error(['libvirt', 'domains', i], `'${d}' is also vms[${vm}]: a VM is either one liveupdate starts or a libvirt domain`);
  });
  if (profile.persistence.backend !== 'pmem')
    f.error(
      ['persistence', 'backend'],
      `libvirt domains are kept with the pmem backend only so far: libvirt puts a domain's RAM file under qemu.conf's memory_backing_dir, which must be a DAX file system on the carve-out (${profile.persistence.backend === 'luo' ? 'libvirt cannot be given a LUO memfd' : 'pkernfs files are not tested under libvirt'})`,
    );
}

import { LiveupdateError } from '../errors.js';
import type { LibvirtFacts } from './types.js';
import {
  FACTS_FORMAT_VERSION,
  type HostFacts,
  type IomemRange,
  type Mount,
  type NumaNode,
  type PathHolds,
  type PciDevice,
  type PmemDevice,
  type QemuFacts,
  type RunningVm,
} from './types.js';
import { parseMachineHelp, resolveMachine } from '../qemu/versions.js';

/** Sections by name, each body without the blank lines around it (a line's own spaces and tabs are its data: a path may end in one). */
export function splitSections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | undefined;
  let body: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^@@ ([a-z_]+)$/.exec(line);
    if (m) {
      if (name !== undefined) out.set(name, body.join('\n').replace(/^\n+|\n+$/g, ''));
      name = m[1]!;
      body = [];
    } else if (name !== undefined) body.push(line);
  }
  if (name !== undefined) out.set(name, body.join('\n').replace(/^\n+|\n+$/g, ''));
  return out;
}

/** /proc/iomem: `start-end : name`, two spaces of indent per nesting level. */
export function parseIomem(text: string): IomemRange[] {
  const roots: IomemRange[] = [];
  const stack: Array<{ depth: number; node: IomemRange }> = [];
  for (const line of text.split('\n')) {
    const m = /^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 2;
    const node: IomemRange = { start: parseInt(m[2]!, 16), end: parseInt(m[3]!, 16), name: m[4]!.trim(), children: [] };
    while (stack.length && stack[stack.length - 1]!.depth >= depth) stack.pop();
    if (stack.length) stack[stack.length - 1]!.node.children.push(node);
    else roots.push(node);
    stack.push({ depth, node });
  }
  return roots;
}

export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+([0-9]+)( kB)?$/.exec(line.trim());
    if (m) out[m[1]!] = Number(m[2]) * (m[3] ? 1024 : 1);
  }
  return out;
}

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMounts(text: string): Mount[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map(([source, target, fstype, options]) => ({
      source: unescapeMountField(source!),
      target: unescapeMountField(target!),
      fstype: fstype!,
      options: options!.split(','),
    }));
}

export function parseFilesystems(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).pop() ?? '')
    .filter(Boolean);
}

export function parseNuma(text: string): NumaNode[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 1 && /^[0-9]+$/.test(f[0]!))
    .map(([id, cpus, kb]) => ({ id: Number(id), cpus: cpus ?? '', memTotal: Number(kb ?? 0) * 1024 }));
}

/** sysfs spells namespace modes the old way; ndctl's names are what operators know. */
const PMEM_MODES: Record<string, string> = { memory: 'fsdax', dax: 'devdax', safe: 'sector', raw: 'raw' };

export function parsePmem(text: string): PmemDevice[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 2 && /^pmem/.test(f[0]!))
    .map(([name, sectors, mode, ns, resource]) => ({
      name: name!,
      size: Number(sectors) * 512,
      mode: mode && mode !== '-' ? (PMEM_MODES[mode] ?? mode) : undefined,
      namespace: ns && ns.startsWith('namespace') ? ns : undefined,
      start: resource && resource !== '-' ? parseInt(resource, 16) : undefined,
    }));
}

export function parsePci(text: string): PciDevice[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && /^[0-9a-f]{4}:/.test(f[0]!))
    .map(([address, vendor, device, driver, group]) => ({
      address: address!,
      vendor: vendor!.replace(/^0x/, ''),
      device: device!.replace(/^0x/, ''),
      driver: driver || undefined,
      iommuGroup: group !== undefined && group !== '' ? Number(group) : undefined,
    }));
}

export function parseDevices(text: string): HostFacts['devices'] {
  const lines = text.split('\n').map((l) => l.trim());
  return {
    vfio: lines.filter((l) => l.startsWith('vfio ')).map((l) => l.slice(5)),
    iommu: lines.includes('iommu'),
    liveupdate: lines.includes('liveupdate'),
    kvm: lines.includes('kvm'),
  };
}

/** `QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u18)` -> 7.2.15 */
export function parseQemuVersion(line: string): string | undefined {
  return /version ([0-9]+\.[0-9]+(\.[0-9]+)?)/.exec(line)?.[1];
}

export function parseQemu(text: string): QemuFacts[] {
  return text
    .split('\n')
    .filter((l) => l.includes('\t'))
    .map((l) => {
      const [binary, line] = l.split('\t') as [string, string];
      return { binary, version: parseQemuVersion(line) };
    });
}

/** `machines`: `BINARY\tLINE` per line of each binary's `-machine help`, folded into its QemuFacts. */
export function withMachines(qemu: QemuFacts[], text: string): QemuFacts[] {
  const lines = new Map<string, string[]>();
  for (const l of text.split('\n')) {
    const tab = l.indexOf('\t');
    if (tab > 0) lines.set(l.slice(0, tab), [...(lines.get(l.slice(0, tab)) ?? []), l.slice(tab + 1)]);
  }
  return qemu.map((q) => {
    const help = lines.get(q.binary);
    return help ? { ...q, ...parseMachineHelp(help.join('\n')) } : q;
  });
}

/** `vms`: a line per running VM; '=' for its version and help line: it runs one of the binaries in `qemu`, which answered for it. */
export function parseRunningVms(text: string, qemu: QemuFacts[]): RunningVm[] {
  return text
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f.length >= 5 && /^[0-9]+$/.test(f[1]!))
    .map(([name, pid, exe, versionLine, machine, helpLine, machineOpts]) => {
      const same = versionLine === '=' ? qemu.find((q) => q.binary === exe) : undefined;
      return {
        name: name!,
        pid: Number(pid),
        exe: exe!,
        version: same ? same.version : parseQemuVersion(versionLine!),
        machine: machine ? resolveMachine(machine, same ? same.aliases : parseMachineHelp(helpLine ?? '').aliases) : undefined,
        // its -machine options (a probe from before they were read has none: not known)
        ...(machineOpts === undefined ? {} : { auxRamShare: /(^|,)aux-ram-share=(on|yes|true)(,|$)/.test(machineOpts) }),
      };
    });
}

export function parseFiles(text: string): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const l of text.split('\n')) {
    const tab = l.indexOf('\t');
    if (tab < 0) continue;
    const size = l.slice(0, tab);
    out[l.slice(tab + 1)] = size === 'missing' ? null : Number(size);
  }
  return out;
}

/** `paths`: `PATH\tRESOLVED` per folder the profile keeps state in. */
export function parsePaths(text: string): { paths: Record<string, string>; pathHolds: Record<string, PathHolds> } {
  const paths: Record<string, string> = {};
  const pathHolds: Record<string, PathHolds> = {};
  for (const l of text.split('\n')) {
    const [path, resolved, holds] = l.split('\t');
    if (!path || !resolved) continue;
    paths[path] = resolved;
    if (holds === 'missing' || holds === 'empty' || holds === 'files' || holds === 'other') pathHolds[path] = holds;
  }
  return { paths, pathHolds };
}

/** Probe output -> HostFacts. `collectedAt` is a parameter so parsing stays pure. */
export function parseProbeOutput(text: string, collectedAt: string, libvirtUri = 'qemu:///system', kernelImage?: string): HostFacts {
  const s = splitSections(text);
  if (!s.has('end')) {
    throw new LiveupdateError('FACTS_INVALID', 'the host probe output is incomplete (no end marker); the probe was cut off');
  }
  const get = (k: string): string => s.get(k) ?? '';
  const meminfo = parseMeminfo(get('meminfo'));
  const qemu = withMachines(parseQemu(get('qemu')), get('machines'));
  return {
    formatVersion: FACTS_FORMAT_VERSION,
    collectedAt,
    hostname: get('hostname').trim(),
    kernelRelease: get('kernel_release').trim(),
    ...(s.has('kernel_version') ? { kernelVersion: get('kernel_version').trim() } : {}),
    bootId: get('boot_id').trim(),
    cmdline: get('cmdline').trim(),
    iomem: parseIomem(get('iomem')),
    memTotal: meminfo['MemTotal'] ?? 0,
    numa: parseNuma(get('numa')),
    mounts: parseMounts(get('mounts')),
    filesystems: parseFilesystems(get('filesystems')),
    kexecLoaded: get('kexec_loaded').trim() === '1',
    pmem: parsePmem(get('pmem')),
    pci: parsePci(get('pci')),
    devices: parseDevices(get('devices')),
    qemu,
    ...(s.has('vms') ? { vms: parseRunningVms(get('vms'), qemu) } : {}),
    files: parseFiles(get('files')),
    ...(s.has('paths') ? parsePaths(get('paths')) : {}),
    ...(kernelImage !== undefined && s.has('kernel_image')
      ? { kexecImage: { path: kernelImage, build: get('kernel_image').trim().split('\n')[0] || null } }
      : {}),
    ...(s.has('libvirt') ? { libvirt: parseLibvirt(get('libvirt'), libvirtUri) } : {}),
    // a probe older than this section says nothing (taken as grub); one that ran it says what it found
    ...(s.has('bootloader')
      ? { bootloader: (['grub', 'grubby', 'systemd-boot'] as const).find((b) => b === get('bootloader').trim()) ?? 'unknown' }
      : {}),
  };
}

/** `libvirt`: `key\tvalue` lines, `running\tNAME` per running domain, and one `domain\tNAME\tSTATE\tID\tEMULATOR-VERSION\tRAM-FILES\tAUTOSTART\tXML-BASE64` per domain. */
export function parseLibvirt(text: string, uri: string): LibvirtFacts {
  const out: LibvirtFacts = {
    uri,
    version: undefined,
    daemonVersion: undefined,
    memoryBackingDir: '/var/lib/libvirt/qemu/ram',
    hooks: [],
    running: [],
    domains: [],
  };
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    const v = f[1]?.trim() || undefined;
    if (f[0] === 'virsh') out.version = v === '-' ? undefined : v;
    else if (f[0] === 'daemon') out.daemonVersion = v;
    else if (f[0] === 'memory_backing_dir' && v) out.memoryBackingDir = v;
    else if (f[0] === 'hook' && v) out.hooks.push(v);
    else if (f[0] === 'running' && f[1]) out.running.push(f[1]);
    else if (f[0] === 'domain' && f[1]) {
      const [, name, state = 'missing', id, version, files, autostart, xml] = f;
      out.domains.push({
        name,
        state,
        id: id && /^[0-9]+$/.test(id) ? Number(id) : undefined,
        emulatorVersion: version?.match(/version ([0-9]+\.[0-9]+(\.[0-9]+)?)/)?.[1],
        ramFiles: (files ?? '').split(' ').filter(Boolean),
        autostart: autostart === 'enable',
        xml: xml ? Buffer.from(xml, 'base64').toString('utf8') : '',
      });
    }
  }
  return out;
}

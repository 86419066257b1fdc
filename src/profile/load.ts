import { posix } from 'node:path';
import { LiveupdateError, type Diagnostic } from '../errors.js';
import { readInputFile, sha256 } from '../input/read.js';
import { parseDuration, parseSize, TWO_MIB } from '../units.js';
import { readYaml, type YamlSource } from '../input/yaml.js';
import { schemaDiagnosticsWith } from '../input/schema.js';
import { staticRules } from './rules.js';
import { byPosition } from '../input/position.js';
import type { Locate, Persistence, Profile, VmSpec } from './types.js';
// schema.json compiled at build time (scripts/validators.ts): no schema is compiled when a command starts
import { validate as validateProfile } from '../input/validate-profile.cjs';

export interface Validated<T> {
  value: T | undefined;
  warnings: Diagnostic[];
  errors: Diagnostic[];
}

/** Parse -> schema -> normalise -> rules, each stage's problems reported with file:line:col. */
export function loadProfile(file: string): Validated<Profile> & { locate: Locate; sha256: string } {
  const text = readInputFile(file, 'profile', 'PROFILE_NOT_FOUND');
  return { ...parseProfile(file, text), sha256: sha256(text) };
}

export function parseProfile(file: string, text: string): Validated<Profile> & { locate: Locate } {
  const src = readYaml(file, text);
  if (src.syntaxErrors.length) return { value: undefined, warnings: [], errors: src.syntaxErrors, locate: src.locate };
  const schemaErrors = byPosition(schemaDiagnostics(src));
  if (schemaErrors.length) return { value: undefined, warnings: [], errors: schemaErrors, locate: src.locate };
  const raw = src.data as RawProfile;
  const profile = normalise(file, raw);
  const { errors, warnings } = staticRules(profile, src.locate);
  if (raw.persistence.backend === 'luo') {
    // size/offset/mount/device have no meaning for LUO: memfds live in ordinary RAM.
    for (const k of ['size', 'offset', 'mount', 'device'] as const) {
      if (raw.persistence[k] !== undefined)
        errors.push({
          where: src.locate(['persistence', k], { key: true }),
          field: `persistence.${k}`,
          message: 'not used by the luo backend (guest RAM is a memfd preserved by LUO)',
        });
    }
  }
  return { value: errors.length ? undefined : profile, warnings: byPosition(warnings), errors: byPosition(errors), locate: src.locate };
}

/** Throwing form for commands: every problem in one error. */
export function requireProfile(file: string): { profile: Profile; warnings: Diagnostic[]; locate: Locate; sha256: string } {
  const r = loadProfile(file);
  if (!r.value) {
    throw new LiveupdateError(
      'PROFILE_INVALID',
      `${file}: ${r.errors.length} problem${r.errors.length === 1 ? '' : 's'} in the profile; nothing was done`,
      { diagnostics: r.errors },
    );
  }
  return { profile: r.value, warnings: r.warnings, locate: r.locate, sha256: r.sha256 };
}

function schemaDiagnostics(src: YamlSource): Diagnostic[] {
  return schemaDiagnosticsWith(validateProfile, src, REFUSED_BACKENDS);
}

const REFUSED_BACKENDS: Record<string, string> = {
  dmemfs: 'DMEMFS does not persist across kexec (it only avoids struct page overhead)',
  pkram: 'PKRAM was an RFC (2023) that never merged; no kernel here has it',
  pools: 'kernel memory pools have no userspace interface for guest RAM',
};

// ---- normalise: fill defaults, parse sizes, full PCI addresses ----

interface RawProfile {
  version: 1;
  host: { name: string };
  persistence: {
    backend: 'pkernfs' | 'pmem' | 'luo';
    size?: string;
    offset?: string;
    mount?: string;
    device?: string;
    kho?: { scratch?: string };
  };
  iommu?: { api?: 'iommufd' | 'vfio-container'; dmaStopsDuringUpdate?: boolean };
  kexec: {
    kernel: string;
    initrd?: string;
    unsigned?: boolean;
    bootTimeout?: string | number;
    cmdline?: { policy?: 'reuse' | 'replace'; value?: string; append?: string[]; remove?: string[] };
  };
  migration?: { mode?: Profile['migration']['mode']; stateDir?: string; timeout?: string | number; acceptUntestedQemu?: string[] };
  journal?: { dir?: string };
  runtime?: { dir?: string };
  libvirt?: { uri?: string; ram?: 'in-place' | 'copy'; domains: string[] };
  vms?: Array<{
    name: string;
    memory: string;
    ramFile?: string;
    qemu?: { binary?: string; restoreBinary?: string; machine?: string; accel?: string; cpus?: number; args?: string[] };
    vfio?: Array<{ host: string; pgtables?: string; iommuDomain?: string }>;
  }>;
}

export const DEFAULT_JOURNAL_DIR = '/var/lib/liveupdate';
export const DEFAULT_RUNTIME_DIR = '/run/liveupdate';

/** The folder the VMs' own folders are in: <runtime.dir>/vms. */
export const vmsDir = (runtimeDir: string): string => `${runtimeDir === '/' ? '' : runtimeDir}/vms`;

/** A VM's own folder and the files QEMU creates in it: the profile chooses the parent (runtime.dir), never a file. */
export function vmRunFiles(runtimeDir: string, name: string): { runDir: string; qmp: string; pidfile: string } {
  const runDir = `${vmsDir(runtimeDir)}/${name}`;
  return { runDir, qmp: `${runDir}/qmp.sock`, pidfile: `${runDir}/qemu.pid` };
}

/** '//tmp/x/' and '/mnt/a/../b' as the kernel will resolve them: '/tmp/x', '/mnt/b' (symlinks aside). */
function cleanPath<T extends string | undefined>(p: T): T {
  if (p === undefined) return p;
  const n = posix.normalize(p);
  return (n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n) as T;
}

function normalise(file: string, raw: RawProfile): Profile {
  const p = raw.persistence;
  const size = p.size !== undefined ? parseSize(p.size) : 0;
  const offset = p.offset === undefined || p.offset === 'auto' ? ('auto' as const) : parseSize(p.offset);
  let persistence: Persistence;
  if (p.backend === 'pkernfs') persistence = { backend: 'pkernfs', size, offset, mount: cleanPath(p.mount) ?? '/mnt/pkernfs' };
  else if (p.backend === 'pmem')
    persistence = { backend: 'pmem', size, offset, mount: cleanPath(p.mount) ?? '/mnt/pmem', device: p.device ?? 'auto' };
  else persistence = { backend: 'luo', khoScratch: p.kho?.scratch !== undefined ? parseSize(p.kho.scratch) : undefined };

  const journalDir = cleanPath(raw.journal?.dir) ?? DEFAULT_JOURNAL_DIR;
  const stateDir =
    cleanPath(raw.migration?.stateDir) ?? (persistence.backend === 'pmem' ? `${persistence.mount}/state` : `${journalDir}/state`);
  const runtimeDir = cleanPath(raw.runtime?.dir) ?? DEFAULT_RUNTIME_DIR;
  let domainSeq = 0;
  const vms: VmSpec[] = (raw.vms ?? []).map((vm) => ({
    name: vm.name,
    memory: parseSize(vm.memory),
    ramFile: vm.ramFile ?? `${vm.name}.ram`,
    ...vmRunFiles(runtimeDir, vm.name),
    qemu: {
      binary: vm.qemu?.binary ?? '/usr/bin/qemu-system-x86_64',
      restoreBinary: vm.qemu?.restoreBinary ?? vm.qemu?.binary ?? '/usr/bin/qemu-system-x86_64',
      machine: vm.qemu?.machine ?? 'q35',
      accel: vm.qemu?.accel ?? 'kvm',
      cpus: vm.qemu?.cpus ?? 1,
      args: vm.qemu?.args ?? [],
    },
    vfio: (vm.vfio ?? []).map((d) => ({
      host: fullPciAddress(d.host),
      pgtables: d.pgtables !== undefined ? parseSize(d.pgtables) : TWO_MIB,
      iommuDomain: d.iommuDomain ?? `dom-${domainSeq++}`,
    })),
  }));
  return {
    version: 1,
    file,
    host: { name: raw.host.name },
    persistence,
    iommu: {
      api: raw.iommu?.api ?? (persistence.backend === 'pkernfs' ? 'vfio-container' : 'iommufd'),
      dmaStopsDuringUpdate: raw.iommu?.dmaStopsDuringUpdate ?? false,
    },
    kexec: {
      kernel: cleanPath(raw.kexec.kernel),
      initrd: cleanPath(raw.kexec.initrd),
      signed: !(raw.kexec.unsigned ?? false),
      cmdline: {
        policy: raw.kexec.cmdline?.policy ?? 'reuse',
        value: raw.kexec.cmdline?.value,
        append: raw.kexec.cmdline?.append ?? [],
        remove: raw.kexec.cmdline?.remove ?? [],
      },
      bootTimeoutMs: parseDuration(raw.kexec.bootTimeout ?? '5m'),
    },
    migration: {
      mode: raw.migration?.mode ?? 'auto',
      stateDir,
      timeoutMs: parseDuration(raw.migration?.timeout ?? '120s'),
      acceptUntestedQemu: raw.migration?.acceptUntestedQemu ?? [],
    },
    journal: { dir: journalDir },
    runtime: { dir: runtimeDir },
    vms,
    libvirt: raw.libvirt
      ? { uri: raw.libvirt.uri ?? 'qemu:///system', ram: raw.libvirt.ram ?? 'copy', domains: raw.libvirt.domains }
      : undefined,
  };
}

/** 00:04.0 -> 0000:00:04.0; anything malformed is left for the rules to report. */
export function fullPciAddress(addr: string): string {
  const a = addr.toLowerCase();
  return /^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(a) ? `0000:${a}` : a;
}

import { stat } from 'node:fs/promises';
import { LiveupdateError } from '../errors.js';
import { readInputFile } from '../input.js';
import type { Host } from '../host/host.js';
import type { Profile } from '../profile/types.js';
import { parseProbeOutput } from './parse.js';
import { probeArgv } from './probe.js';
import { FACTS_FORMAT_VERSION, type HostFacts } from './types.js';

export interface ProbeTargets {
  qemu: string[];
  files: string[];
}

/** What the profile wants probed beyond the fixed set: its QEMU binaries and kexec files. */
export function probeTargets(profile: Profile | undefined): ProbeTargets {
  if (!profile) return { qemu: ['/usr/bin/qemu-system-x86_64'], files: [] };
  const qemu = [...new Set(profile.vms.map((v) => v.qemu.binary))];
  const files = [profile.kexec.kernel, ...(profile.kexec.initrd ? [profile.kexec.initrd] : [])];
  return { qemu, files };
}

/** What was probed to get these facts: probing it again gives facts to compare with them. */
export const probeTargetsOf = (f: HostFacts): ProbeTargets => ({ qemu: f.qemu.map((q) => q.binary), files: Object.keys(f.files) });

export function gatherFacts(host: Host, profile: Profile | undefined, now: () => Date = () => new Date()): Promise<HostFacts> {
  return probeFacts(host, probeTargets(profile), now);
}

export async function probeFacts(host: Host, t: ProbeTargets, now: () => Date = () => new Date()): Promise<HostFacts> {
  const r = await host.exec(probeArgv(t.qemu, t.files), { timeoutMs: 30_000 });
  if (r.exitCode !== 0 && !r.stdout.includes('@@ end')) {
    throw new LiveupdateError('HOST_COMMAND_FAILED', `the fact probe failed on ${host.name} (exit ${r.exitCode}): ${r.stderr.trim().split('\n')[0] ?? ''}`);
  }
  return parseProbeOutput(r.stdout, now().toISOString());
}

/** A saved `facts --json` file, checked enough that a plan made from it means something. */
export async function readFactsFile(file: string): Promise<HostFacts> {
  const text = readInputFile(file, 'facts file', 'FACTS_INVALID');
  // the probe's own output, as another tool ran it (e.g. an Ansible `script` task), is facts too
  if (text.trimStart().startsWith('@@ ')) {
    if (!text.includes('@@ end')) throw new LiveupdateError('FACTS_INVALID', `${file}: the probe output is cut off before its end marker`);
    return parseProbeOutput(text.replace(/\r\n/g, '\n'), (await stat(file)).mtime.toISOString());
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new LiveupdateError('FACTS_INVALID', `${file}: not JSON (${(err as Error).message}); save facts with 'liveupdate facts --json > FILE'`);
  }
  const f = data as Partial<HostFacts>;
  if (typeof f !== 'object' || f === null || f.formatVersion !== FACTS_FORMAT_VERSION) {
    throw new LiveupdateError('FACTS_INVALID', `${file}: formatVersion must be ${FACTS_FORMAT_VERSION}; save facts with 'liveupdate facts --json > FILE'`);
  }
  for (const key of ['hostname', 'bootId', 'cmdline', 'kernelRelease'] as const) {
    if (typeof f[key] !== 'string') throw new LiveupdateError('FACTS_INVALID', `${file}: field '${key}' is missing or not a string`);
  }
  for (const key of ['iomem', 'mounts', 'pmem', 'pci', 'qemu', 'numa', 'filesystems'] as const) {
    if (!Array.isArray(f[key])) throw new LiveupdateError('FACTS_INVALID', `${file}: field '${key}' is missing or not a list`);
  }
  return f as HostFacts;
}

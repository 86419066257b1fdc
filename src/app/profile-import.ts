/**
 * `liveupdate profile import --libvirt [URI]`: a starting profile from the domains a host's libvirt
 * runs now, so an operator starts from the host they have. The host is read, never changed; the
 * profile says, per domain, what liveupdate would do with it and what stands in the way.
 */
import { LiveupdateError } from '../errors.js';
import { probeFacts } from '../facts/gather.js';
import type { DomainFacts, HostFacts } from '../facts/types.js';
import type { Host } from '../host/host.js';
import { parseProfile } from '../profile/load.js';
import { formatSize, GiB } from '../units.js';
import { readDomainXml, type DomainXml } from '../facts/domain-xml.js';
import { openHost, type HostOptions } from './hosts.js';
import { carveOutForSaveImages, inPlaceGaps, SHARED_FILE_RAM } from '../plan/rules.js';

const MOUNT = '/mnt/pmem';

/** Running domains of `uri` on the host, by name (virsh list --name: one per line). */
async function runningDomains(host: Host, uri: string): Promise<string[]> {
  const r = await host.exec(['virsh', '-c', uri, 'list', '--name'], { timeoutMs: 30_000 });
  if (r.exitCode !== 0)
    throw new LiveupdateError(
      'HOST_COMMAND_FAILED',
      `virsh -c ${uri} list --name on ${host.name} exited ${r.exitCode}: ${r.stderr.trim().split('\n')[0] ?? ''}`,
      { hint: r.exitCode === 127 ? 'virsh is not installed there (Debian: libvirt-clients)' : 'is libvirtd running?' },
    );
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** What stands in the way of each path for a domain, in the words of the file it is changed in. */
function readiness(d: DomainFacts & DomainXml, f: HostFacts): string[] {
  const out: string[] = [];
  if (d.hostdevs) out.push(`passes ${d.hostdevs} host device(s) through: not kept under libvirt yet (refused)`);
  const inPlace = inPlaceGaps(d, f.libvirt?.memoryBackingDir ?? '', MOUNT).map((gap) =>
    gap === 'shared-file-ram'
      ? `${SHARED_FILE_RAM} in its XML`
      : gap === 'backing-dir'
        ? `memory_backing_dir under ${MOUNT} in qemu.conf`
        : `QEMU 11.0+ (it runs ${d.emulatorVersion ?? 'an unknown version'})`,
  );
  out.push(
    `copy: ready${d.hostdevs ? ' but for the device' : ''}; in place would need ${inPlace.length ? inPlace.join(', ') : 'nothing more'}`,
  );
  return out;
}

/** The profile's text (YAML with comments); `initrd`: the running kernel's initramfs when the host has one. Pure. */
export function importedProfile(f: HostFacts, uri: string, at: string, initrd?: string): string {
  const domains = (f.libvirt?.domains ?? []).map((d) => ({ ...d, ...readDomainXml(d.xml) }));
  const ram = domains.reduce((n, d) => n + (d.memory ?? 0), 0);
  // the save images (each domain's RAM and device state) with room to spare: the host's own legacy
  // pmem carve-out when it holds them (the profile then needs no new boot), else a new one in whole GiB
  const kept = f.pmem.find((d) => d.start !== undefined && d.size >= carveOutForSaveImages(ram));
  const size = kept ? formatSize(kept.size) : `${Math.max(1, Math.ceil((ram * 1.1 + 256 * 2 ** 20) / GiB))}G`;
  const lines = [
    `# written by liveupdate profile import --libvirt ${uri} from ${f.hostname} at ${at}`,
    `# ${domains.length} running domain(s), ${formatSize(ram)} of guest RAM; check every value before a run`,
    'version: 1',
    `host: {name: ${f.hostname}}`,
    'persistence:',
    '  backend: pmem',
    kept
      ? `  # the save images (the domains' RAM: ${formatSize(ram)}) on the carve-out this host has (${kept.name})`
      : `  # the save images: the domains' RAM (${formatSize(ram)}) with room to spare`,
    `  size: ${size}`,
    `  offset: ${kept ? formatSize(kept.start!) : 'auto'}`,
    `  mount: ${MOUNT}`,
    'kexec:',
    '  # the kernel to move to: this names the running one; change it to the new kernel',
    `  kernel: /boot/vmlinuz-${f.kernelRelease}`,
    ...(initrd ? [`  initrd: ${initrd}`] : []),
    'libvirt:',
    `  uri: ${uri}`,
    '  # copy: virsh save writes each domain (its RAM too) into an image on the carve-out, virsh restore reads it back',
    '  ram: copy',
    '  domains:',
    ...domains.flatMap((d) => [
      `    # ${d.name}: ${d.memory !== undefined ? formatSize(d.memory) : 'RAM unknown'}, QEMU ${d.emulatorVersion ?? '?'}${d.autostart ? ', autostart (turned off while it is saved)' : ''}`,
      ...readiness(d, f).map((r) => `    #   ${r}`),
      `    - ${d.name}`,
    ]),
  ];
  return lines.join('\n') + '\n';
}

export interface ImportOptions extends HostOptions {
  libvirt: string;
}

/** Read the host and write the profile's text; it validates, or this is a bug. */
export async function importLibvirtProfile(
  opts: ImportOptions,
  now: () => Date = () => new Date(),
): Promise<{ text: string; domains: string[] }> {
  const host = openHost(opts);
  try {
    const domains = await runningDomains(host, opts.libvirt);
    if (!domains.length)
      throw new LiveupdateError('USAGE', `libvirt on ${host.name} (${opts.libvirt}) runs no domain now: there is nothing to import`);
    const f = await probeFacts(host, { qemu: [], files: [], libvirt: { uri: opts.libvirt, domains } });
    // the running kernel's initramfs, by the names Debian's and Fedora's packages give it
    const named = [`/boot/initrd.img-${f.kernelRelease}`, `/boot/initramfs-${f.kernelRelease}.img`];
    const found = await host.exec(['ls', '-d', '--', ...named], { timeoutMs: 30_000 });
    const initrd = named.find((n) => found.stdout.split('\n').includes(n));
    const text = importedProfile(f, opts.libvirt, now().toISOString(), initrd);
    const check = parseProfile('(imported profile)', text);
    if (!check.value) throw new Error(`profile import wrote a profile that does not validate: ${JSON.stringify(check.errors)}`);
    return { text, domains };
  } finally {
    await host.close();
  }
}

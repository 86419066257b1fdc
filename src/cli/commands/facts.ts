/** `liveupdate facts`: what a host reads as (probed read-only, or a saved file), for people or as JSON. */
import { requireProfile } from '../../profile/load.js';
import type { HostFacts } from '../../facts/types.js';
import { formatSize, hex } from '../../units.js';
import { obtainFacts } from '../../app/hosts.js';
import type { CommandContext } from '../context.js';

export function renderFacts(f: HostFacts): string {
  const lines = [
    `host ${f.hostname}, kernel ${f.kernelRelease}, boot ${f.bootId}`,
    `cmdline: ${f.cmdline}`,
    `memory: ${formatSize(Math.floor(f.memTotal / 2 ** 20) * 2 ** 20)} in ${f.numa.length || 1} NUMA node(s)`,
    `kexec loaded: ${f.kexecLoaded ? 'yes' : 'no'}`,
    `devices: ${[f.devices.kvm && '/dev/kvm', f.devices.iommu && '/dev/iommu', f.devices.liveupdate && '/dev/liveupdate', ...f.devices.vfio.map((v) => `/dev/vfio/${v}`)].filter(Boolean).join(' ') || 'none of kvm, iommu, liveupdate, vfio'}`,
    `system RAM / persistent ranges:`,
    ...f.iomem
      .filter((r) => /System RAM|Persistent/.test(r.name))
      .map((r) => `  ${hex(r.start)}-${hex(r.end)} ${r.name} (${formatSize(r.end - r.start + 1)})`),
    `pmem: ${f.pmem.map((p) => `${p.name} ${formatSize(p.size)}${p.mode ? ` ${p.mode}` : ''}`).join(', ') || 'none'}`,
    `pci devices in IOMMU groups: ${f.pci.filter((p) => p.iommuGroup !== undefined).length} of ${f.pci.length}`,
    `qemu: ${
      f.qemu
        .map(
          (q) =>
            `${q.binary} ${q.version ?? 'missing'}${
              q.aliases && Object.keys(q.aliases).length
                ? ` (${Object.entries(q.aliases)
                    .map(([a, t]) => `${a} = ${t}`)
                    .join(', ')})`
                : ''
            }`,
        )
        .join(', ') || 'none probed'
    }`,
    ...(f.vms
      ? [
          `running VMs: ${f.vms.map((v) => `${v.name} (pid ${v.pid}) QEMU ${v.version ?? '?'} ${v.exe} on ${v.machine ?? '?'}`).join(', ') || "none of the profile's"}`,
        ]
      : []),
    `pkernfs: ${f.filesystems.includes('pkernfs') ? 'available' : 'not in this kernel'}`,
  ];
  return lines.join('\n') + '\n';
}

export interface FactsOpts {
  profile?: string;
  host?: string;
  identity?: string;
  knownHosts?: string;
  acceptNewHostKey?: boolean;
  facts?: string;
}

export async function facts(opts: FactsOpts, { out }: CommandContext): Promise<void> {
  const profile = opts.profile ? requireProfile(opts.profile).profile : undefined;
  const f = await obtainFacts(opts, profile);
  out.result(renderFacts(f), { type: 'facts', ...f });
}

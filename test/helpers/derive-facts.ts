/**
 * The facts files in profiles/facts/ are real probe captures from the lab VM (test/fixtures/probe/)
 * with the edits below, so each example profile has a host to plan against. `npm run fixtures`
 * rewrites them; test/unit/facts/derived.test.ts fails if they drift from this code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProbeOutput } from '../../src/facts/parse.js';
import type { HostFacts, IomemRange } from '../../src/facts/types.js';
import { fixture, ROOT } from './paths.js';

const AT = '2026-11-24T19:47:00.000Z';
const GiB = 2 ** 30;

export function captured(name: string): HostFacts {
  return parseProbeOutput(readFileSync(fixture('probe', `${name}.txt`), 'utf8'), AT);
}

const ram = (start: number, end: number): IomemRange => ({ start, end, name: 'System RAM', children: [] });

/** Drop the lab's pmem range and System RAM above it; give the host `extraGiB` of RAM at 4 GiB. */
function withoutPmem(f: HostFacts, extraGiB: number, keepAbove1G: boolean): IomemRange[] {
  const out = f.iomem.filter((r) => !/Persistent Memory/.test(r.name) && !(r.name === 'System RAM' && r.start >= GiB && !keepAbove1G));
  if (keepAbove1G) {
    // stock host: the range the lab used for pmem is ordinary RAM again
    const hi = out.find((r) => r.name === 'System RAM' && r.start >= GiB);
    if (hi) hi.start = GiB;
  }
  out.push(ram(4 * GiB, 4 * GiB + extraGiB * GiB - 1));
  return out.sort((a, b) => a.start - b.start);
}

export function derivedFacts(): Record<string, HostFacts> {
  const lab = captured('lab-pmem-vfio');

  const seed = structuredClone(lab);
  seed.hostname = 'seed-host';
  seed.cmdline = lab.cmdline.replace('memmap=256M!1G', 'memmap=1G%1G nopat pkernfs=1G!1G nokaslr');
  seed.iomem = withoutPmem(lab, 6, false); // pkernfs's `memmap=1G%1G` removes 1G..2G from the map
  seed.memTotal = lab.memTotal - 256 * 2 ** 20 + 6 * GiB;
  seed.filesystems = [...lab.filesystems, 'pkernfs'];
  seed.pmem = [];
  seed.mounts = lab.mounts.filter((m) => m.target !== '/mnt/pmem');
  seed.files = { '/boot/vmlinuz-6.8.0-pkernfs': 14_000_000, '/boot/initrd.img-6.8.0-pkernfs': 30_000_000 };
  // the RFC's QEMU (jgowans/qemu, early 2024) is 8.2-era: cpr-reboot, file: migration
  seed.qemu = [{ binary: '/usr/bin/qemu-system-x86_64', version: '8.2.2' }];

  const pmem = structuredClone(lab);
  pmem.hostname = 'pmem-host';
  pmem.cmdline = lab.cmdline.replace(' memmap=256M!1G', '');
  pmem.iomem = withoutPmem(lab, 6, true);
  pmem.memTotal = lab.memTotal + 256 * 2 ** 20 + 6 * GiB;
  pmem.pmem = [];
  pmem.mounts = lab.mounts.filter((m) => m.target !== '/mnt/pmem');
  pmem.pci = lab.pci.map((d) => (d.driver === 'vfio-pci' ? { ...d, driver: 'e1000e' } : d));
  pmem.devices = { ...lab.devices, vfio: ['vfio'] };
  pmem.files = { '/boot/vmlinuz-6.1.0-28-amd64': 8_245_760, '/boot/initrd.img-6.1.0-28-amd64': 30_000_000 };

  const luo = structuredClone(pmem);
  luo.hostname = 'luo-host';
  luo.kernelRelease = '7.2.0-luo';
  luo.cmdline = `${pmem.cmdline} kho=on liveupdate=on kho_scratch=256M`;
  luo.devices = { ...pmem.devices, iommu: true, liveupdate: true };
  luo.files = { '/boot/vmlinuz-7.2.0-luo': 12_000_000, '/boot/initrd.img-7.2.0-luo': 30_000_000 };

  return { lab: lab, 'seed-host': seed, 'pmem-host': pmem, 'luo-host': luo };
}

export function factsFile(name: string): string {
  return join(ROOT, 'profiles', 'facts', `${name}.json`);
}

if (process.argv.includes('--write')) {
  for (const [name, f] of Object.entries(derivedFacts())) {
    writeFileSync(factsFile(name), JSON.stringify(f, null, 2) + '\n');
    console.log(`wrote ${factsFile(name)}`);
  }
}

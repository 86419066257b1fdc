/** Pure test data: a libvirt section of the facts as Debian 12's libvirt 9.0 reports one running domain (test doubles for the planner and import). */
import type { LibvirtFacts } from '../../src/facts/types.js';

export function oneDomain(opts: { name: string; memoryMiB: number; autostart?: boolean; running?: string[] }): LibvirtFacts {
  const xml = `<domain type='qemu'><name>${opts.name}</name><memory unit='MiB'>${opts.memoryMiB}</memory><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`;
  return {
    uri: 'qemu:///system',
    version: '9.0.0',
    daemonVersion: '9.0.0',
    memoryBackingDir: '/var/lib/libvirt/qemu/ram',
    hooks: [],
    running: opts.running ?? [opts.name],
    domains: [
      { name: opts.name, state: 'running', id: 1, emulatorVersion: '7.2.22', ramFiles: [], autostart: opts.autostart ?? false, xml },
    ],
  };
}

// Pure parsers against real captures: this development machine and the lab VM (test/fixtures/probe/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseIomem, parseMounts, parseProbeOutput, splitSections } from '../../../src/facts/parse.js';
import { fixture } from '../../helpers/paths.js';

const read = (n: string): string => readFileSync(fixture('probe', n), 'utf8');

test('lab capture: pmem, IOMMU groups, VFIO and QEMU are all read', () => {
  const f = parseProbeOutput(read('lab-pmem-vfio.txt'), 'T');
  assert.equal(f.hostname, 'lab');
  assert.match(f.kernelRelease, /^6\.1\.0-[0-9]+-amd64$/);
  assert.match(f.bootId, /^[0-9a-f-]{36}$/);
  assert.ok(f.cmdline.includes('memmap=256M!1G'));
  const pm = f.iomem.find((r) => r.name === 'Persistent Memory (legacy)');
  assert.deepEqual([pm?.start, pm?.end], [0x40000000, 0x4fffffff]);
  assert.equal(pm?.children[0]?.name, 'namespace0.0');
  assert.deepEqual(f.pmem, [{ name: 'pmem0', size: 256 * 2 ** 20, mode: 'fsdax', namespace: 'namespace0.0', start: 0x40000000 }]);
  const nic = f.pci.find((d) => d.device === '10d3');
  assert.deepEqual(nic, { address: '0000:00:03.0', vendor: '8086', device: '10d3', driver: 'vfio-pci', iommuGroup: 3 });
  assert.deepEqual(f.devices.vfio.sort(), ['3', 'vfio']);
  assert.equal(f.devices.iommu, false, 'Debian 6.1 has no /dev/iommu');
  assert.equal(f.devices.liveupdate, false);
  assert.deepEqual(f.qemu, [{ binary: '/usr/bin/qemu-system-x86_64', version: '7.2.22' }]);
  assert.equal(f.files['/boot/vmlinuz'], 8245760);
  const dax = f.mounts.find((m) => m.target === '/mnt/pmem');
  assert.equal(dax?.fstype, 'ext4');
  assert.ok(dax?.options.includes('dax=always'));
  assert.equal(f.numa.length, 1);
  assert.equal(f.kexecLoaded, false);
});

test('lab capture before binding: the NIC is on e1000e and a missing file reads null', () => {
  const f = parseProbeOutput(read('lab-pmem.txt'), 'T');
  assert.equal(f.pci.find((d) => d.device === '10d3')?.driver, 'e1000e');
  assert.equal(f.files['/boot/vmlinuz-missing'], null);
  assert.deepEqual(f.devices.vfio, ['vfio']);
});

test('development machine capture: no IOMMU groups, kernel cmdline with init args', () => {
  const f = parseProbeOutput(read('dev-machine.txt'), 'T');
  assert.ok(f.memTotal > 2 ** 30);
  assert.ok(f.iomem.some((r) => r.name === 'System RAM' && r.start === 0x100000000));
  assert.equal(f.pci.filter((d) => d.iommuGroup !== undefined).length, 0);
  assert.ok(f.cmdline.includes(' -- '));
  assert.equal(f.qemu.find((q) => q.binary === '/usr/bin/qemu-missing')?.version, undefined);
  assert.equal(f.files['/bin/sh'] !== null, true);
});

test('iomem nesting follows indentation', () => {
  const r = parseIomem(
    '00100000-3fffffff : System RAM\n  01000000-01e01fff : Kernel code\n    01000000-0100ffff : inner\n  02000000-0220ffff : Kernel data\n40000000-4fffffff : Reserved\n',
  );
  assert.equal(r.length, 2);
  assert.deepEqual(
    r[0]!.children.map((c) => c.name),
    ['Kernel code', 'Kernel data'],
  );
  assert.equal(r[0]!.children[0]!.children[0]!.name, 'inner');
});

test('mount points with spaces are unescaped', () => {
  const [m] = parseMounts('/dev/pmem0 /mnt/my\\040pmem ext4 rw,dax=always 0 0\n');
  assert.equal(m?.target, '/mnt/my pmem');
});

test('a probe cut off before its end marker is an error, not half the facts', () => {
  const text = read('lab-pmem.txt');
  assert.throws(() => parseProbeOutput(text.slice(0, text.indexOf('@@ pci')), 'T'), /incomplete/);
  assert.ok(splitSections(text).has('end'));
});

test('bootloader: what the probe found; "unknown" for anything else; absent from an older probe (taken as grub by the planner)', () => {
  const text = read('lab-pmem.txt');
  const withSection = (v: string): string => text.replace('@@ end', `@@ bootloader\n${v}\n@@ end`);
  for (const b of ['grub', 'grubby', 'systemd-boot'] as const) assert.equal(parseProbeOutput(withSection(b), 'T').bootloader, b);
  assert.equal(parseProbeOutput(withSection('lilo'), 'T').bootloader, 'unknown');
  assert.equal('bootloader' in parseProbeOutput(text, 'T'), false);
});

test('machines and running VMs: each binary its types and aliases; a running VM its own version and its type, an alias resolved by the running QEMU', () => {
  const text = [
    '@@ qemu',
    '/usr/bin/qemu-system-x86_64\tQEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)',
    '@@ machines',
    '/usr/bin/qemu-system-x86_64\tSupported machines are:',
    '/usr/bin/qemu-system-x86_64\tpc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)',
    '/usr/bin/qemu-system-x86_64\tpc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)',
    '@@ vms',
    'a\t4242\t/usr/bin/qemu-system-x86_64 (deleted)\tQEMU emulator version 7.2.19 (Debian)\tpc\tpc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)',
    'b\t4343\t/opt/qemu-10/usr/bin/qemu-system-x86_64\tQEMU emulator version 10.0.2\tpc-q35-7.2\t',
    // runs the binary probed above: that binary answered for it
    'c\t4444\t/usr/bin/qemu-system-x86_64\t=\tpc\t=',
    '@@ end',
  ].join('\n');
  const f = parseProbeOutput(text, '2026-12-03T00:00:00.000Z');
  assert.deepEqual(f.qemu, [
    { binary: '/usr/bin/qemu-system-x86_64', version: '7.2.22', machines: ['pc', 'pc-i440fx-7.2'], aliases: { pc: 'pc-i440fx-7.2' } },
  ]);
  assert.deepEqual(f.vms, [
    { name: 'a', pid: 4242, exe: '/usr/bin/qemu-system-x86_64 (deleted)', version: '7.2.19', machine: 'pc-i440fx-7.2' },
    { name: 'b', pid: 4343, exe: '/opt/qemu-10/usr/bin/qemu-system-x86_64', version: '10.0.2', machine: 'pc-q35-7.2' },
    { name: 'c', pid: 4444, exe: '/usr/bin/qemu-system-x86_64', version: '7.2.22', machine: 'pc-i440fx-7.2' },
  ]);
  // a probe that asked for no VMs says nothing about them
  assert.equal(parseProbeOutput('@@ qemu\n@@ end\n', '2026-12-03T00:00:00.000Z').vms, undefined);
});

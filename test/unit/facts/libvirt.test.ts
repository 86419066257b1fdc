// Pure: libvirt's section of the probe's output and a domain's XML, as libvirt 9.0 and 11.3 write them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLibvirt } from '../../../src/facts/parse.js';
import { readDomainXml } from '../../../src/facts/domain-xml.js';

const XML = `<domain type='qemu' id='3'>
  <name>web1</name>
  <memory unit='KiB'>65536</memory>
  <memoryBacking>
    <source type='file'/>
    <access mode='shared'/>
  </memoryBacking>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x00' slot='0x04' function='0x0'/></source></hostdev>
  </devices>
</domain>`;

test("a domain's XML: emulator, RAM in bytes whatever the unit, the memory backing, passed-through devices", () => {
  assert.deepEqual(readDomainXml(XML), {
    emulator: '/usr/bin/qemu-system-x86_64',
    memory: 64 << 20,
    ramSource: 'file',
    ramAccess: 'shared',
    hostdevs: 1,
  });
  const plain = readDomainXml(`<domain type='kvm'><memory unit='GiB'>2</memory><devices/></domain>`);
  assert.equal(plain.memory, 2 * 2 ** 30);
  assert.equal(plain.ramSource, undefined, 'no <memoryBacking>: anonymous RAM');
  assert.equal(plain.hostdevs, 0);
});

test('XML that does not parse, or none, says nothing rather than guessing', () => {
  for (const x of ['', '<domain><memory>', 'not xml at all <<<'])
    assert.deepEqual(readDomainXml(x), { emulator: undefined, memory: undefined, ramSource: undefined, ramAccess: undefined, hostdevs: 0 });
});

test("the probe's libvirt section: versions, memory_backing_dir, hooks, and each domain (a missing one says so)", () => {
  const b64 = Buffer.from(XML).toString('base64');
  const f = parseLibvirt(
    [
      'virsh\t9.0.0',
      'daemon\t9.0.0',
      'memory_backing_dir\t/mnt/pmem/libvirt-ram',
      'hook\t/etc/libvirt/hooks/qemu.d/other',
      `domain\tweb1\trunning\t3\tQEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)\t/mnt/pmem/libvirt-ram/libvirt/qemu/3-web1/pc.ram \tenable\t${b64}`,
      'domain\tgone\tmissing',
      '',
    ].join('\n'),
    'qemu:///system',
  );
  assert.equal(f.version, '9.0.0');
  assert.equal(f.memoryBackingDir, '/mnt/pmem/libvirt-ram');
  assert.deepEqual(f.hooks, ['/etc/libvirt/hooks/qemu.d/other']);
  assert.deepEqual(
    f.domains.map((d) => [d.name, d.state, d.id, d.emulatorVersion, d.ramFiles, d.autostart, readDomainXml(d.xml).memory]),
    [
      ['web1', 'running', 3, '7.2.22', ['/mnt/pmem/libvirt-ram/libvirt/qemu/3-web1/pc.ram'], true, 64 << 20],
      ['gone', 'missing', undefined, undefined, [], false, undefined],
    ],
  );
  assert.equal(parseLibvirt('virsh\t-\n', 'qemu:///system').version, undefined, 'no virsh on the host');
});

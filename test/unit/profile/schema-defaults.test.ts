// Pure: the defaults the profile schema shows an editor (its `default`s) are the ones the loader
// fills in when a field is left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProfile } from '../../../src/profile/load.js';
import { ROOT } from '../../helpers/paths.js';

type Node = { default?: unknown; properties?: Record<string, Node>; items?: Node };
const schema = JSON.parse(readFileSync(join(ROOT, 'src/profile/schema.json'), 'utf8')) as Node;
const at = (...path: string[]): unknown =>
  path.reduce<Node>((n, k) => (k === '[]' ? n.items! : n.properties![k]!), schema).default ??
  assert.fail(`${path.join('.')} has no default`);

test("every default the profile schema shows is the loader's", () => {
  const p = parseProfile(
    'minimal.yaml',
    `version: 1
host: {name: h}
persistence: {backend: pmem, size: 1G, offset: 4G}
kexec: {kernel: /boot/vmlinuz}
libvirt: {domains: [web1]}
vms: [{name: v, memory: 64M}]
`,
  ).value!;
  const vm = p.vms[0]!;
  assert.deepEqual(
    {
      device: p.persistence.backend === 'pmem' ? p.persistence.device : undefined,
      dma: p.iommu.dmaStopsDuringUpdate,
      unsigned: !p.kexec.signed,
      policy: p.kexec.cmdline.policy,
      mode: p.migration.mode,
      uri: p.libvirt?.uri,
      ram: p.libvirt?.ram,
      machine: vm.qemu.machine,
      accel: vm.qemu.accel,
      cpus: vm.qemu.cpus,
    },
    {
      device: at('persistence', 'device'),
      dma: at('iommu', 'dmaStopsDuringUpdate'),
      unsigned: at('kexec', 'unsigned'),
      policy: at('kexec', 'cmdline', 'policy'),
      mode: at('migration', 'mode'),
      uri: at('libvirt', 'uri'),
      ram: at('libvirt', 'ram'),
      machine: at('vms', '[]', 'qemu', 'machine'),
      accel: at('vms', '[]', 'qemu', 'accel'),
      cpus: at('vms', '[]', 'qemu', 'cpus'),
    },
  );
});

// Pure logic: profiles parsed from strings, no host involved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProfile } from '../../../src/profile/load.js';

const BASE = `version: 1
host:
  name: h1
persistence:
  backend: pmem
  size: 2G
  offset: 4G
  mount: /mnt/pmem
kexec:
  kernel: /boot/vmlinuz
migration:
  mode: auto
vms:
  - name: a
    memory: 512M
    qemu:
      args: [-nodefaults]
  - name: b
    memory: 256M
`;

interface Case {
  name: string;
  edit: (base: string) => string;
  where: string;
  field: string;
  message: RegExp;
}

const swap =
  (from: string, to: string) =>
  (b: string): string => {
    assert.ok(b.includes(from), `base lacks ${from}`);
    return b.replace(from, to);
  };

const CASES: Case[] = [
  {
    name: 'size with a bad unit',
    edit: swap('size: 2G', 'size: 2Gb'),
    where: 'p.yaml:6:9',
    field: 'persistence.size',
    message: /must be a size like 512M, 4G or 4GiB/,
  },
  {
    name: 'VM memory not a size',
    edit: swap('memory: 256M', 'memory: lots'),
    where: 'p.yaml:19:13',
    field: 'vms[1].memory',
    message: /must be a size like 512M, 4G or 4GiB/,
  },
  {
    name: 'unknown backend',
    edit: swap('backend: pmem', 'backend: tmpfs'),
    where: 'p.yaml:5:12',
    field: 'persistence.backend',
    message: /must be one of pkernfs, pmem, luo/,
  },
  {
    name: 'dmemfs refused with reason',
    edit: swap('backend: pmem', 'backend: dmemfs'),
    where: 'p.yaml:5:12',
    field: 'persistence.backend',
    message: /DMEMFS does not persist across kexec/,
  },
  {
    name: 'pkram refused with reason',
    edit: swap('backend: pmem', 'backend: pkram'),
    where: 'p.yaml:5:12',
    field: 'persistence.backend',
    message: /PKRAM .* never merged/,
  },
  {
    name: 'relative kernel path',
    edit: swap('kernel: /boot/vmlinuz', 'kernel: boot/vmlinuz'),
    where: 'p.yaml:10:11',
    field: 'kexec.kernel',
    message: /absolute path/,
  },
  {
    name: 'missing kexec',
    edit: swap('kexec:\n  kernel: /boot/vmlinuz\n', ''),
    where: 'p.yaml:1:1',
    field: '(top level)',
    message: /missing required field 'kexec'/,
  },
  {
    name: 'unknown field',
    edit: swap('  - name: b\n', '  - name: b\n    colour: red\n'),
    where: 'p.yaml:19:5',
    field: 'vms[1].colour',
    message: /unknown field 'colour'/,
  },
  {
    name: 'no VMs',
    edit: (b) => b.slice(0, b.indexOf('vms:')) + 'vms: []\n',
    where: 'p.yaml:13:1',
    field: 'vms',
    message: /at least one VM/,
  },
  { name: 'wrong version', edit: swap('version: 1', 'version: 2'), where: 'p.yaml:1:10', field: 'version', message: /must be 1/ },
  {
    name: 'bad migration mode',
    edit: swap('mode: auto', 'mode: postcopy'),
    where: 'p.yaml:12:9',
    field: 'migration.mode',
    message: /auto, x-ignore-shared, cpr-reboot, cpr-transfer/,
  },
  {
    name: 'cpr-transfer across kexec',
    edit: swap('mode: auto', 'mode: cpr-transfer'),
    where: 'p.yaml:12:9',
    field: 'migration.mode',
    message: /cannot span a kexec/,
  },
  {
    name: 'duplicate VM name',
    edit: swap('name: b', 'name: a'),
    where: 'p.yaml:18:11',
    field: 'vms[1].name',
    message: /VM name 'a' is already used by vms\[0\]/,
  },
  {
    name: 'unaligned size',
    edit: swap('size: 2G', 'size: 1025M'),
    where: 'p.yaml:6:9',
    field: 'persistence.size',
    message: /multiple of 2 MiB/,
  },
  {
    name: 'unaligned offset',
    edit: swap('offset: 4G', 'offset: 4097M'),
    where: 'p.yaml:7:11',
    field: 'persistence.offset',
    message: /2 MiB aligned/,
  },
  {
    name: 'guest RAM does not fit pmem',
    edit: swap('memory: 512M', 'memory: 3G'),
    where: 'p.yaml:6:9',
    field: 'persistence.size',
    message: /need .* but the 2G pmem carve-out holds about/,
  },
  {
    name: 'bad PCI address',
    edit: swap('  - name: b\n', '  - name: b\n    vfio: [{host: "0000:00:4.0"}]\n'),
    where: 'p.yaml:19:19',
    field: 'vms[1].vfio[0].host',
    message: /not a PCI address/,
  },
  {
    name: 'PCI device number out of range',
    edit: swap('  - name: b\n', '  - name: b\n    vfio: [{host: "0000:00:44.0"}]\n'),
    where: 'p.yaml:19:19',
    field: 'vms[1].vfio[0].host',
    message: /device number 44 is out of range/,
  },
  {
    name: 'VFIO on pmem without acknowledgement',
    edit: swap('  - name: b\n', '  - name: b\n    vfio: [{host: "0000:00:04.0"}]\n'),
    where: 'p.yaml:19:5',
    field: 'vms[1].vfio',
    message: /cannot keep IOMMU state .* iommu\.dmaStopsDuringUpdate: true/,
  },
  {
    name: 'QEMU -m in args',
    edit: swap('args: [-nodefaults]', 'args: [-nodefaults, -m, 4G]'),
    where: 'p.yaml:17:27',
    field: 'vms[0].qemu.args[1]',
    message: /guest RAM is set by 'memory:'/,
  },
  // managed QEMU options in every spelling QEMU accepts (issue 18, class 3)
  {
    name: '--incoming in args',
    edit: swap('args: [-nodefaults]', 'args: [-nodefaults, --incoming, "tcp:0:4444"]'),
    where: 'p.yaml:17:27',
    field: 'vms[0].qemu.args[1]',
    message: /'--incoming' is managed by liveupdate: liveupdate starts the restored VM waiting/,
  },
  {
    name: '-pidfile in args',
    edit: swap('args: [-nodefaults]', 'args: [-nodefaults, -pidfile, /tmp/x.pid]'),
    where: 'p.yaml:17:27',
    field: 'vms[0].qemu.args[1]',
    message: /'-pidfile' is managed by liveupdate/,
  },
  {
    name: '-qmp=... in args',
    edit: swap('args: [-nodefaults]', 'args: [-nodefaults, "-qmp=unix:/tmp/q,server=on"]'),
    where: 'p.yaml:17:27',
    field: 'vms[0].qemu.args[1]',
    message: /'-qmp=unix:\/tmp\/q,server=on' is managed by liveupdate: liveupdate drives the VM over its own QMP socket/,
  },
  {
    name: '--m in args',
    edit: swap('args: [-nodefaults]', 'args: [-nodefaults, --m, 8G]'),
    where: 'p.yaml:17:27',
    field: 'vms[0].qemu.args[1]',
    message: /guest RAM is set by 'memory:'/,
  },
  {
    name: '-S in args',
    edit: swap('args: [-nodefaults]', 'args: [-nodefaults, -S]'),
    where: 'p.yaml:17:27',
    field: 'vms[0].qemu.args[1]',
    message: /'-S' is managed by liveupdate/,
  },
  {
    name: 'relative image path in QEMU args',
    edit: swap('args: [-nodefaults]', 'args: [-drive, "file=disk.img,if=virtio"]'),
    where: 'p.yaml:17:22',
    field: 'vms[0].qemu.args[1]',
    message: /relative path 'disk.img'.*-daemonize/,
  },
  {
    name: 'journal on tmpfs',
    edit: swap('migration:\n', 'journal:\n  dir: /run/lu\nmigration:\n'),
    where: 'p.yaml:12:8',
    field: 'journal.dir',
    message: /tmpfs .* will not survive the kexec/,
  },
  {
    name: 'replace policy without value',
    edit: swap('  kernel: /boot/vmlinuz\n', '  kernel: /boot/vmlinuz\n  cmdline: {policy: replace}\n'),
    where: 'p.yaml:11:3',
    field: 'kexec.cmdline.value',
    message: /needs the full cmdline/,
  },
  {
    name: 'a QMP socket path chosen by the profile (liveupdate owns the paths QEMU creates)',
    edit: swap('    memory: 256M\n', '    memory: 256M\n    qmp: /run/liveupdate/a.qmp\n'),
    where: 'p.yaml:20:10',
    field: 'vms[1].qmp',
    message: /is chosen by liveupdate: .* <runtime\.dir>\/vms\/<name>\/ .*set runtime\.dir to choose the parent/,
  },
  {
    name: 'bad duration',
    edit: swap('  kernel: /boot/vmlinuz\n', '  kernel: /boot/vmlinuz\n  bootTimeout: soon\n'),
    where: 'p.yaml:11:16',
    field: 'kexec.bootTimeout',
    message: /duration like 500ms/,
  },
  // numbers: every size and duration bounded, the message naming the bound (issue 18, class 7)
  {
    name: 'VM memory 0',
    edit: swap('memory: 256M', 'memory: 0M'),
    where: 'p.yaml:19:13',
    field: 'vms[1].memory',
    message: /must be at least 1M/,
  },
  {
    name: 'VM memory past 2^53 bytes',
    edit: swap('memory: 256M', 'memory: 99999999999999999999G'),
    where: 'p.yaml:19:13',
    field: 'vms[1].memory',
    message: /larger than 1024T, the most liveupdate takes/,
  },
  {
    name: 'carve-out past 1024T',
    edit: swap('size: 2G', 'size: 2000000T'),
    where: 'p.yaml:6:9',
    field: 'persistence.size',
    message: /larger than 1024T/,
  },
  {
    name: 'boot timeout 0s',
    edit: swap('  kernel: /boot/vmlinuz\n', '  kernel: /boot/vmlinuz\n  bootTimeout: 0s\n'),
    where: 'p.yaml:11:16',
    field: 'kexec.bootTimeout',
    message: /must be between 1s and 1440m/,
  },
  {
    name: 'migration timeout past a day (Node would fire it at once)',
    edit: swap('  mode: auto\n', '  mode: auto\n  timeout: 36000000m\n'),
    where: 'p.yaml:13:12',
    field: 'migration.timeout',
    message: /must be between 1s and 1440m/,
  },
  // paths normalised and checked (issue 18, class 5)
  {
    name: 'mount point /',
    edit: swap('mount: /mnt/pmem', 'mount: /'),
    where: 'p.yaml:8:10',
    field: 'persistence.mount',
    message: /the journal \(\/var\/lib\/liveupdate\) would be inside the carve-out's mount point/,
  },
  {
    name: 'journal inside the mount point',
    edit: swap('migration:\n', 'journal:\n  dir: /mnt/pmem/journal\nmigration:\n'),
    where: 'p.yaml:8:10',
    field: 'persistence.mount',
    message: /the journal \(\/mnt\/pmem\/journal\) would be inside the carve-out's mount point/,
  },
  {
    name: 'journal on tmpfs spelled //tmp',
    edit: swap('migration:\n', 'journal:\n  dir: //tmp/x\nmigration:\n'),
    where: 'p.yaml:12:8',
    field: 'journal.dir',
    message: /\/tmp\/x is on tmpfs/,
  },
  {
    name: 'RAM file ..',
    edit: swap('    memory: 256M\n', '    memory: 256M\n    ramFile: ".."\n'),
    where: 'p.yaml:20:14',
    field: 'vms[1].ramFile',
    message: /'\.\.' is not a file name/,
  },
  {
    name: "the VMs' folders inside the carve-out's mount point",
    edit: swap('vms:\n', 'runtime: {dir: /mnt/pmem/run}\nvms:\n'),
    where: 'p.yaml:13:16',
    field: 'runtime.dir',
    message: /\/mnt\/pmem\/run and the carve-out's mount point \(\/mnt\/pmem\) overlap/,
  },
  {
    name: 'YAML syntax error',
    edit: swap('host:\n  name: h1', 'host: [\n  name: h1'),
    where: 'p.yaml:4:1',
    field: '',
    message: /indented|flow/i,
  },
  {
    name: 'duplicate YAML key',
    edit: swap('  name: h1\n', '  name: h1\n  name: h2\n'),
    where: 'p.yaml:4:3',
    field: '',
    message: /unique/i,
  },
];

test('the base profile is valid', () => {
  const r = parseProfile('p.yaml', BASE);
  assert.deepEqual(r.errors, []);
  assert.ok(r.value);
});

for (const c of CASES) {
  test(`bad profile: ${c.name}`, () => {
    const r = parseProfile('p.yaml', c.edit(BASE));
    assert.equal(r.value, undefined, 'must be rejected');
    const hit = r.errors.find((e) => c.message.test(e.message));
    assert.ok(hit, `no error matching ${String(c.message)}; got ${JSON.stringify(r.errors)}`);
    assert.equal(hit.where, c.where);
    if (c.field) assert.equal(hit.field, c.field);
  });
}

test('there are at least 20 distinct bad-profile cases', () => {
  assert.ok(new Set(CASES.map((c) => c.message.source)).size >= 20);
});

test('pkernfs: a file name over 31 bytes is refused', () => {
  const text = BASE.replace('backend: pmem', 'backend: pkernfs').replace(
    '  - name: b\n',
    '  - name: b\n    ramFile: this-name-is-far-too-long-for-pkernfs\n',
  );
  const r = parseProfile('p.yaml', text);
  const hit = r.errors.find((e) => /at most 31/.test(e.message));
  assert.ok(hit, JSON.stringify(r.errors));
  assert.equal(hit.field, 'vms[1].ramFile');
});

test('pkernfs: iommufd is refused (the RFC persists page tables only on a VFIO container)', () => {
  const text = BASE.replace('backend: pmem', 'backend: pkernfs')
    .replace('migration:\n', 'iommu: {api: iommufd}\nmigration:\n')
    .replace('  - name: b\n', '  - name: b\n    vfio: [{host: "0000:00:04.0"}]\n');
  const r = parseProfile('p.yaml', text);
  assert.ok(
    r.errors.some((e) => e.field === 'iommu.api' && /VFIO_CONTAINER_SET_PERSISTENT_PGTABLES/.test(e.message)),
    JSON.stringify(r.errors),
  );
});

test('luo: carve-out fields are refused', () => {
  const r = parseProfile('p.yaml', BASE.replace('backend: pmem', 'backend: luo'));
  assert.ok(
    r.errors.some((e) => e.field === 'persistence.size' && /not used by the luo backend/.test(e.message)),
    JSON.stringify(r.errors),
  );
});

test('luo: hugetlb memory is refused', () => {
  const text = BASE.replace(/persistence:\n( {2}.*\n)+/, 'persistence:\n  backend: luo\n').replace(
    'args: [-nodefaults]',
    'args: [-mem-prealloc, "hugetlb=on"]',
  );
  const r = parseProfile('p.yaml', text);
  assert.ok(
    r.errors.some((e) => /hugetlb memory cannot be preserved/.test(e.message)),
    JSON.stringify(r.errors),
  );
});

test('luo: memory that could grow or balloon is refused (a preserved memfd has a frozen size)', () => {
  for (const arg of ['-m 1G,slots=4,maxmem=8G', 'virtio-balloon-pci', 'virtio-mem-pci,id=vm0']) {
    const text = BASE.replace(/persistence:\n( {2}.*\n)+/, 'persistence:\n  backend: luo\n').replace(
      'args: [-nodefaults]',
      `args: [-nodefaults, -device, "${arg}"]`,
    );
    const r = parseProfile('p.yaml', text);
    assert.ok(
      r.errors.some(
        (e) =>
          /size is frozen, so guest memory cannot grow or be ballooned under LUO/.test(e.message) &&
          /^vms\[[0-9]\]\.qemu\.args\[2\]$/.test(e.field ?? ''),
      ),
      `${arg}: ${JSON.stringify(r.errors)}`,
    );
  }
});

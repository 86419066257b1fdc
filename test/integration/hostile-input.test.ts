// Hostile and broken input files (issue 18), through the real CLI process (bin/liveupdate.js):
// each case names the exit code and the message an operator sees; none may end in a stack trace,
// hang, or read without end. Real files, FIFOs and devices of this machine; no host is touched
// (every command here only reads files: validate, plan --facts, fleet status).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('/tmp/lu-hostile-');
const seed = join(ROOT, 'profiles/seed-pkernfs.yaml');
const seedFacts = join(ROOT, 'profiles/facts/seed-host.json');

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** A real ed25519 key from ssh-keygen, encrypted with a passphrase. */
function encryptedKey(): string {
  const p = join(dir, 'id_encrypted');
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'a passphrase', '-f', p]);
  assert.equal(r.status, 0, String(r.stderr));
  return p;
}

function fifo(name: string): string {
  const p = join(dir, name);
  spawnSync('mkfifo', [p]);
  return p;
}

/** The seed host's facts, edited: a facts file as another tool (or a hand) might leave it. */
function facts(name: string, edit: (f: Record<string, unknown>) => void): string {
  const f = JSON.parse(readFileSync(seedFacts, 'utf8')) as Record<string, unknown>;
  edit(f);
  return file(name, JSON.stringify(f, null, 2) + '\n');
}

/** The seed profile, edited (each edit must apply). */
function profile(name: string, from: string, to: string): string {
  const text = readFileSync(seed, 'utf8');
  assert.ok(text.includes(from), `the seed profile lacks ${from}`);
  return file(name, text.replace(from, to));
}

/** Anchors on anchors: 9^12 nodes once expanded. */
const aliasBomb =
  [
    'a: &a [x, x, x, x, x, x, x, x, x]',
    ...Array.from(
      { length: 12 },
      (_, i) =>
        `l${i + 1}: &l${i + 1} [${Array(9)
          .fill(`*${i ? `l${i}` : 'a'}`)
          .join(', ')}]`,
    ),
  ].join('\n') + '\n';

interface Case {
  what: string;
  args: () => string[];
  code: number;
  message: RegExp;
}

const CASES: Case[] = [
  // class 1: size and shape
  {
    what: 'profile: a YAML alias bomb',
    args: () => ['validate', file('bomb.yaml', aliasBomb)],
    code: 1,
    message: /bomb\.yaml:1:1: YAML aliases expand too far/,
  },
  {
    what: 'inventory: a YAML alias bomb',
    args: () => ['fleet', 'status', '--inventory', file('bomb-inv.yaml', aliasBomb), '--fleet-dir', dir],
    code: 1,
    message: /bomb-inv\.yaml:1:1: YAML aliases expand too far/,
  },
  {
    what: 'profile: 100 000 levels of flow nesting',
    args: () => ['validate', file('deep.yaml', `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`)],
    code: 1,
    message: /deep\.yaml:1:\d+: nested too deeply/,
  },
  {
    what: 'profile: a character device',
    args: () => ['validate', '/dev/zero'],
    code: 1,
    message: /profile \/dev\/zero is not a regular file \(a character device\)/,
  },
  {
    what: 'profile: /dev/urandom through plan',
    args: () => ['plan', '--profile', '/dev/urandom', '--facts', seedFacts],
    code: 1,
    message: /profile \/dev\/urandom is not a regular file \(a character device\)/,
  },
  {
    what: 'profile: a FIFO nobody writes to',
    args: () => ['validate', fifo('profile.fifo')],
    code: 1,
    message: /profile\.fifo is not a regular file \(a FIFO\)/,
  },
  { what: 'profile: a directory', args: () => ['validate', dir], code: 1, message: /is not a regular file \(a directory\)/ },
  {
    what: 'profile: 5 MB of one scalar',
    args: () => ['validate', file('big.yaml', 'a'.repeat(5_000_000))],
    code: 1,
    message: /big\.yaml is larger than 4M, the most liveupdate reads/,
  },
  {
    what: 'facts file: a character device',
    args: () => ['plan', '--profile', seed, '--facts', '/dev/zero'],
    code: 1,
    message: /facts file \/dev\/zero is not a regular file \(a character device\)/,
  },
  {
    what: 'facts file: a FIFO',
    args: () => ['plan', '--profile', seed, '--facts', fifo('facts.fifo')],
    code: 1,
    message: /facts\.fifo is not a regular file \(a FIFO\)/,
  },
  {
    what: 'facts file: 5 MB',
    args: () => ['plan', '--profile', seed, '--facts', file('big.json', ' '.repeat(5_000_000))],
    code: 1,
    message: /big\.json is larger than 4M/,
  },
  {
    what: 'facts file: 100 000 levels of JSON nesting',
    args: () => ['plan', '--profile', seed, '--facts', file('deep.json', `${'['.repeat(100_000)}${']'.repeat(100_000)}`)],
    code: 1,
    message: /deep\.json: /,
  },
  {
    what: 'inventory: a character device',
    args: () => ['fleet', 'plan', '--inventory', '/dev/zero'],
    code: 1,
    message: /inventory \/dev\/zero is not a regular file/,
  },
  // class 2: facts files are checked against their schema (src/facts/schema.json), each problem at file:line:col
  {
    what: 'facts file: no devices',
    args: () => ['plan', '--profile', seed, '--facts', facts('no-devices.json', (f) => delete f['devices'])],
    code: 1,
    message: /no-devices\.json:1:1: \(top level\): missing required field 'devices'/,
  },
  {
    what: 'facts file: no files',
    args: () => ['plan', '--profile', seed, '--facts', facts('no-files.json', (f) => delete f['files'])],
    code: 1,
    message: /no-files\.json:1:1: \(top level\): missing required field 'files'/,
  },
  {
    what: 'facts file: a null inside iomem',
    args: () => ['plan', '--profile', seed, '--facts', facts('null-iomem.json', (f) => ((f['iomem'] as unknown[])[1] = null))],
    code: 1,
    message: /null-iomem\.json:\d+:\d+: iomem\[1\]: must be object/,
  },
  {
    what: 'facts file: a range start that is not a number',
    args: () => [
      'plan',
      '--profile',
      seed,
      '--facts',
      facts('str-start.json', (f) => ((f['iomem'] as Array<Record<string, unknown>>)[0]!['start'] = '0x1000')),
    ],
    code: 1,
    message: /str-start\.json:\d+:\d+: iomem\[0\]\.start: must be a whole number of bytes/,
  },
  {
    what: 'facts file: a boot id that is not one',
    args: () => ['plan', '--profile', seed, '--facts', facts('bad-boot.json', (f) => (f['bootId'] = 'x; reboot'))],
    code: 1,
    message: /bad-boot\.json:\d+:\d+: bootId: must be \/proc\/sys\/kernel\/random\/boot_id/,
  },
  {
    what: 'facts file: a negative memory total',
    args: () => ['plan', '--profile', seed, '--facts', facts('neg-mem.json', (f) => (f['memTotal'] = -1))],
    code: 1,
    message: /neg-mem\.json:\d+:\d+: memTotal: must be a whole number of bytes/,
  },
  // class 12: errors that were bugs (the key is read before any connection: port 1 is never dialled)
  {
    what: '--identity: no such file',
    args: () => ['facts', '--host', 'root@127.0.0.1:1', '--identity', join(dir, 'no-key')],
    code: 64,
    message: /--identity .*no-key: cannot read it: ENOENT/,
  },
  {
    what: '--identity: a directory',
    args: () => ['facts', '--host', 'root@127.0.0.1:1', '--identity', dir],
    code: 64,
    message: /--identity .*: cannot read it: EISDIR/,
  },
  {
    what: '--identity: not a key',
    args: () => ['facts', '--host', 'root@127.0.0.1:1', '--identity', file('not-a-key', 'hello\n')],
    code: 1,
    message: /not-a-key: not a private key liveupdate can read/,
  },
  {
    what: '--identity: encrypted with a passphrase',
    args: () => ['facts', '--host', 'root@127.0.0.1:1', '--identity', encryptedKey()],
    code: 1,
    message:
      /id_encrypted: the key is encrypted with a passphrase, and there is no terminal to ask for it on\nhint: load it into ssh-agent \(ssh-add /,
  },
  // values that reached the host's commands or QEMU before (classes 3, 5, 7), through validate and plan
  // class 11 of the second round: an empty value is a mistake, never "here" (this machine, its probe, the current folder)
  ...[
    ['--host', ['facts', '--host', '']],
    ['--facts', ['plan', '--profile', seed, '--facts', '']],
    ['--journal-dir', ['status', '--profile', seed, '--journal-dir', '']],
    ['--inventory', ['fleet', 'plan', '--inventory', '']],
  ].map(([flag, args]) => ({
    what: `empty ${String(flag)}`,
    args: () => args as string[],
    code: 64,
    message: new RegExp(`option '${String(flag)} <[a-z]+>' argument '' is invalid. it is empty`),
  })),
  // class 12 of the second round: facts are input too, with the patterns profile values have
  {
    what: 'facts: a pmem namespace named like a flag',
    args: () => [
      'plan',
      '--profile',
      seed,
      '--facts',
      facts('ns-flag.json', (f) => (f['pmem'] as Array<Record<string, unknown>>).push({ name: 'pmem7', size: 1, namespace: '--force' })),
    ],
    code: 1,
    message: /pmem\[\d+\]\.namespace: must be an ndctl namespace name/,
  },
  {
    what: 'facts: a machine type carrying options',
    args: () => [
      'plan',
      '--profile',
      seed,
      '--facts',
      facts('machine-opts.json', (f) => ((f['qemu'] as Array<Record<string, unknown>>)[0]!['machines'] = ['pc,memory-backend=evil'])),
    ],
    code: 1,
    message: /qemu\[0\]\.machines\[0\]: must be a QEMU machine type/,
  },
  // class 8 of the second round: every file read is bounded and a regular file (a FIFO would hang the CLI beyond SIGTERM)
  {
    what: '--identity: a FIFO',
    args: () => ['facts', '--host', 'root@127.0.0.1:1', '--identity', fifo('key.fifo')],
    code: 64,
    message: /--identity .*key\.fifo: cannot read it: EINVAL/,
  },
  {
    what: '-F: /dev/zero as ssh_config',
    args: () => ['facts', '--host', 'hv1', '-F', '/dev/zero'],
    code: 64,
    message: /ssh_config \/dev\/zero: cannot read it: EINVAL \(\/dev\/zero is not a regular file \(a character device\)\)/,
  },
  {
    what: 'journal: a FIFO in its place',
    args: () => {
      const jd = join(dir, 'fifo-journal');
      mkdirSync(jd, { recursive: true, mode: 0o700 });
      spawnSync('mkfifo', [join(jd, 'seed-host.journal')]);
      return ['status', '--profile', seed, '--journal-dir', jd];
    },
    code: 1,
    message: /seed-host\.journal: cannot read it as a journal: EINVAL/,
  },
  {
    what: 'profile: --incoming in qemu.args',
    args: () => ['validate', profile('incoming.yaml', 'args: [', 'args: [--incoming, "tcp:0:1", ')],
    code: 1,
    message: /'--incoming' is managed by liveupdate/,
  },
  {
    what: 'profile: -pidfile= in qemu.args',
    args: () => ['validate', profile('pidfile.yaml', 'args: [', 'args: ["-pidfile=/tmp/x", ')],
    code: 1,
    message: /'-pidfile=\/tmp\/x' is managed by liveupdate/,
  },
  {
    what: 'profile: mount point /',
    args: () => ['validate', profile('mount-root.yaml', 'mount: /mnt/pkernfs', 'mount: /')],
    code: 1,
    message: /persistence\.mount: the journal \(\/var\/lib\/liveupdate\) would be inside the carve-out's mount point/,
  },
  {
    what: 'profile: mount point /etc through .., a folder with files on the host',
    args: () => [
      'plan',
      '--profile',
      profile('mount-etc.yaml', 'mount: /mnt/pkernfs', 'mount: /mnt/../etc'),
      '--facts',
      facts('etc-files.json', (f) => {
        f['paths'] = { '/etc': '/etc' };
        f['pathHolds'] = { '/etc': 'files' };
      }),
    ],
    code: 1,
    message: /persistence\.mount: \/etc has files in it on this host: mounting the carve-out there would hide them/,
  },
  {
    what: "profile: mount point spelt elsewhere, linked on the host into the agent's folder",
    args: () => [
      'plan',
      '--profile',
      profile('mount-agent.yaml', 'mount: /mnt/pkernfs', 'mount: /srv/carve'),
      '--facts',
      facts('agent-link.json', (f) => {
        f['paths'] = { '/srv/carve': '/var/lib/liveupdate/agent/x' };
        f['pathHolds'] = { '/srv/carve': 'missing' };
      }),
    ],
    code: 1,
    message: /persistence\.mount: \/srv\/carve \(\/var\/lib\/liveupdate\/agent\/x on this host\) and the journal .* overlap/,
  },
  {
    what: 'profile: memory 0',
    args: () => ['validate', profile('mem0.yaml', 'memory: 100M', 'memory: 0M')],
    code: 1,
    message: /vms\[0\]\.memory: must be at least 1M/,
  },
  {
    what: 'profile: a migration timeout Node would fire at once',
    args: () => ['validate', profile('timeout.yaml', '  mode: auto\n', '  mode: auto\n  timeout: 36000000m\n')],
    code: 1,
    message: /migration\.timeout: must be between 1s and 1440m/,
  },
  // flags: usage errors (64), nothing read further
  {
    what: 'flag: --phase bogus',
    args: () => ['plan', '--profile', seed, '--facts', seedFacts, '--phase', 'bogus'],
    code: 64,
    message: /--phase bogus: must be one of/,
  },
  {
    what: 'flag: --via telnet',
    args: () => ['run', '--profile', seed, '--host', 'root@127.0.0.1:1', '--via', 'telnet'],
    code: 64,
    message: /--via telnet: expected agent or ssh/,
  },
  {
    what: 'flag: --agent with --via ssh',
    args: () => ['run', '--profile', seed, '--host', 'root@127.0.0.1:1', '--via', 'ssh', '--agent'],
    code: 64,
    message: /--agent and --via ssh contradict each other/,
  },
  { what: 'flag: an unknown option', args: () => ['plan', '--profile', seed, '--yolo'], code: 64, message: /unknown option '--yolo'/ },
  {
    what: 'flag: demo --port 99999',
    args: () => ['demo', '--port', '99999'],
    code: 64,
    message: /--port 99999: expected a TCP port number/,
  },
  {
    what: 'flag: demo --count 0',
    args: () => ['demo', '--count', '0'],
    code: 64,
    message: /--count 0: expected seconds between 1 and 600/,
  },
  {
    what: 'flag: fleet plan --forks 0',
    args: () => ['fleet', 'plan', '--inventory', file('inv.yaml', 'version: 1\nhosts: [{name: a, profile: p}]\n'), '--forks', '0'],
    code: 64,
    message: /--forks 0: expected a positive integer/,
  },
  {
    what: 'flag: fleet --limit with an empty term',
    args: () => ['fleet', 'plan', '--inventory', file('inv2.yaml', 'version: 1\nhosts: [{name: a, profile: p}]\n'), '--limit', 'a,,b'],
    code: 64,
    message: /--limit 'a,,b': empty term/,
  },
  // inventories (class 9)
  {
    what: 'inventory: one machine twice',
    args: () => [
      'fleet',
      'plan',
      '--inventory',
      file(
        'twice.yaml',
        'version: 1\ndefaults: {profile: p}\nhosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.1}\n',
      ),
    ],
    code: 1,
    message: /twice\.yaml:5:24: hosts\[1\]\.address: 10\.0\.0\.1 port 22 is already hosts\[0\] \(a\)/,
  },
  {
    what: 'inventory: an address that is an ssh option',
    args: () => [
      'fleet',
      'plan',
      '--inventory',
      file('opt.yaml', 'version: 1\nhosts: [{name: a, profile: p, address: "-oProxyCommand=sh"}]\n'),
    ],
    code: 1,
    message: /hosts\[0\]\.address: '-oProxyCommand=sh' is neither an IP address nor a DNS name/,
  },
  {
    what: 'inventory: a connect rate of 1e-8',
    args: () => [
      'fleet',
      'plan',
      '--inventory',
      file('rate.yaml', 'version: 1\nhosts: [{name: a, profile: p}]\nrollout: {connectRate: 0.00000001}\n'),
    ],
    code: 1,
    message: /rollout\.connectRate: must be new SSH connections per second, from 0\.01/,
  },
  {
    what: 'profile: missing',
    args: () => ['validate', join(dir, 'nope.yaml')],
    code: 1,
    message: /cannot read profile .*nope\.yaml: ENOENT/,
  },
  // profiles: shape, types and values (the schema and the rules), each at file:line:col
  {
    what: 'profile: binary garbage',
    args: () => ['validate', file('garbage.yaml', '\x00\x01\x02garbage')],
    code: 1,
    message: /garbage\.yaml:1:1: \(top level\): must be object/,
  },
  {
    what: 'profile: an empty file',
    args: () => ['validate', file('empty.yaml', '')],
    code: 1,
    message: /empty\.yaml:1:1: \(top level\): must be object/,
  },
  {
    what: 'profile: a list at the top',
    args: () => ['validate', file('list.yaml', '- a\n- b\n')],
    code: 1,
    message: /list\.yaml:1:1: \(top level\): must be object/,
  },
  {
    what: 'profile: tabs as indentation',
    args: () => ['validate', profile('tab.yaml', '  name: seed-host', '\tname: seed-host')],
    code: 1,
    message: /tab\.yaml:7:1: Tabs are not allowed as indentation/,
  },
  {
    what: 'profile: a key given twice',
    args: () => ['validate', profile('dupkey.yaml', 'version: 1\n', 'version: 1\nversion: 1\n')],
    code: 1,
    message: /dupkey\.yaml:6:1: Map keys must be unique/,
  },
  {
    what: 'profile: version 2',
    args: () => ['validate', profile('v2.yaml', 'version: 1\n', 'version: 2\n')],
    code: 1,
    message: /v2\.yaml:5:10: version: must be 1/,
  },
  {
    what: 'profile: an unknown field',
    args: () => ['validate', profile('unknown.yaml', 'version: 1\n', 'version: 1\nfrobnicate: true\n')],
    code: 1,
    message: /unknown\.yaml:6:1: frobnicate: unknown field 'frobnicate'/,
  },
  {
    what: 'profile: backend zfs',
    args: () => ['validate', profile('zfs.yaml', 'backend: pkernfs', 'backend: zfs')],
    code: 1,
    message: /zfs\.yaml:9:12: persistence\.backend: must be one of pkernfs, pmem, luo/,
  },
  {
    what: 'profile: two VMs of one name',
    args: () => ['validate', profile('twovms.yaml', 'vms:\n', 'vms:\n  - {name: guest0, memory: 32M}\n')],
    code: 1,
    message: /vms\[1\]\.name: VM name 'guest0' is already used by vms\[0\]/,
  },
  {
    what: 'profile: a VM name with a shell command',
    args: () => ['validate', profile('semi.yaml', 'name: guest0', 'name: "a;reboot"')],
    code: 1,
    message: /semi\.yaml:23:11: vms\[0\]\.name: must be a VM name/,
  },
  {
    what: 'profile: a VM name with a NUL',
    args: () => ['validate', profile('nul.yaml', 'name: guest0', 'name: "gu\\0est"')],
    code: 1,
    message: /vms\[0\]\.name: must be a VM name/,
  },
  {
    what: 'profile: a RAM file outside the mount',
    args: () => ['validate', profile('ram-up.yaml', 'ramFile: guest-ram', 'ramFile: "../../etc/shadow"')],
    code: 1,
    message: /vms\[0\]\.ramFile: must be a file name \(no '\/', no spaces\)/,
  },
  {
    what: 'profile: memory 2^64 bytes',
    args: () => ['validate', profile('mem64.yaml', 'memory: 100M', 'memory: 18446744073709551616')],
    code: 1,
    message: /mem64\.yaml:24:13: vms\[0\]\.memory: must be a size like 512M, 4G or 4GiB/,
  },
  {
    what: 'profile: memory 5P',
    args: () => ['validate', profile('mem5p.yaml', 'memory: 100M', 'memory: 5P')],
    code: 1,
    message: /vms\[0\]\.memory: must be a size like 512M, 4G or 4GiB/,
  },
  {
    what: 'profile: memory true',
    args: () => ['validate', profile('memtrue.yaml', 'memory: 100M', 'memory: true')],
    code: 1,
    message: /vms\[0\]\.memory: must be a size like 512M, 4G or 4GiB/,
  },
  {
    what: 'profile: memory -100M',
    args: () => ['validate', profile('memneg.yaml', 'memory: 100M', 'memory: -100M')],
    code: 1,
    message: /vms\[0\]\.memory: must be a size like 512M, 4G or 4GiB/,
  },
  {
    what: 'profile: carve-out size 0',
    args: () => ['validate', profile('size0.yaml', 'size: 1G', 'size: 0')],
    code: 1,
    message: /size0\.yaml:10:9: persistence\.size: must be a size like 512M, 4G or 4GiB/,
  },
  {
    what: 'profile: an offset that is not one',
    args: () => ['validate', profile('offset.yaml', 'offset: 1G', 'offset: banana')],
    code: 1,
    message: /persistence\.offset: must be a physical address like 1G or 4352M, or auto/,
  },
  {
    what: 'profile: page tables 0',
    args: () => ['validate', profile('pg0.yaml', 'pgtables: 2M', 'pgtables: 0')],
    code: 1,
    message: /vms\[0\]\.vfio\[0\]\.pgtables: must be a size like 512M, 4G or 4GiB/,
  },
  {
    what: 'profile: 100 000 vCPUs',
    args: () => ['validate', profile('cpus.yaml', 'cpus: 2', 'cpus: 100000')],
    code: 1,
    message: /vms\[0\]\.qemu\.cpus: must be a whole number of vCPUs from 1 to 1024/,
  },
  {
    what: 'profile: a relative mount point',
    args: () => ['validate', profile('relmount.yaml', 'mount: /mnt/pkernfs', 'mount: mnt/pkernfs')],
    code: 1,
    message: /relmount\.yaml:12:10: persistence\.mount: must be an absolute path/,
  },
  {
    what: 'profile: a QEMU found through PATH',
    args: () => ['validate', profile('relqemu.yaml', 'binary: /usr/bin/qemu-system-x86_64', 'binary: qemu-system-x86_64')],
    code: 1,
    message: /vms\[0\]\.qemu\.binary: must be an absolute path/,
  },
  {
    what: 'profile: a relative kernel',
    args: () => ['validate', profile('relkernel.yaml', 'kernel: /boot/vmlinuz-6.8.0-pkernfs', 'kernel: vmlinuz')],
    code: 1,
    message: /kexec\.kernel: must be an absolute path/,
  },
  {
    what: 'profile: a migration timeout of 0s',
    args: () => ['validate', profile('timeout0.yaml', '  mode: auto\n', '  mode: auto\n  timeout: 0s\n')],
    code: 1,
    message: /migration\.timeout: must be between 1s and 1440m/,
  },
  {
    what: 'profile: a boot timeout of 100 days',
    args: () => ['validate', profile('boot100d.yaml', 'kexec:\n', 'kexec:\n  bootTimeout: 100d\n')],
    code: 1,
    message: /kexec\.bootTimeout: must be a duration like/,
  },
  {
    what: 'profile: -qmp in qemu.args',
    args: () => ['validate', profile('qmparg.yaml', 'args: [', 'args: [-qmp, "tcp:0:4444,server", ')],
    code: 1,
    message: /vms\[0\]\.qemu\.args\[0\]: '-qmp' is managed by liveupdate/,
  },
  {
    what: 'profile: -S in qemu.args',
    args: () => ['validate', profile('sarg.yaml', 'args: [', 'args: [-S, ')],
    code: 1,
    message: /'-S' is managed by liveupdate: liveupdate starts the restored VM paused/,
  },
  {
    what: 'profile: a PCI address with a shell command',
    args: () => ['validate', profile('pci.yaml', 'host: "0000:00:03.0"', 'host: "0000:00:03.0; rm -rf /"')],
    code: 1,
    message: /vms\[0\]\.vfio\[0\]\.host: '0000:00:03\.0; rm -rf \/' is not a PCI address/,
  },
  // facts files
  {
    what: 'facts file: not JSON',
    args: () => ['plan', '--profile', seed, '--facts', file('notjson.json', 'not json\n')],
    code: 1,
    message: /notjson\.json: not JSON .*save facts with 'liveupdate facts --json > FILE'/,
  },
  {
    what: 'facts file: format 99',
    args: () => ['plan', '--profile', seed, '--facts', facts('v99.json', (f) => (f['formatVersion'] = 99))],
    code: 1,
    message: /v99\.json: formatVersion must be 1/,
  },
  {
    what: 'facts file: a list',
    args: () => ['plan', '--profile', seed, '--facts', file('list.json', '[]')],
    code: 1,
    message: /list\.json: formatVersion must be 1/,
  },
  {
    what: 'facts file: probe output cut off',
    args: () => ['plan', '--profile', seed, '--facts', file('cut.txt', '@@ version\n1\n@@ iomem\n')],
    code: 1,
    message: /cut\.txt: the probe output is cut off before its end marker/,
  },
  {
    what: 'facts file: 2^64 bytes of memory',
    args: () => [
      'plan',
      '--profile',
      seed,
      '--facts',
      file('mem64.json', readFileSync(seedFacts, 'utf8').replace(/"memTotal": \d+/, '"memTotal": 18446744073709551616')),
    ],
    code: 1,
    message: /mem64\.json:\d+:\d+: memTotal: must be a whole number of bytes/,
  },
  {
    what: 'facts file: a cmdline that is a number',
    args: () => ['plan', '--profile', seed, '--facts', facts('cmdline.json', (f) => (f['cmdline'] = 5))],
    code: 1,
    message: /cmdline\.json:\d+:\d+: cmdline: must be \/proc\/cmdline/,
  },
  {
    what: 'facts file: a kernel release of 100 000 characters',
    args: () => ['plan', '--profile', seed, '--facts', facts('longrel.json', (f) => (f['kernelRelease'] = 'x'.repeat(100_000)))],
    code: 1,
    message: /longrel\.json:\d+:\d+: kernelRelease: must be the running kernel's release/,
  },
  {
    what: 'facts file: collected "yesterday"',
    args: () => ['plan', '--profile', seed, '--facts', facts('when.json', (f) => (f['collectedAt'] = 'yesterday'))],
    code: 1,
    message: /when\.json:\d+:\d+: collectedAt: must be the time the facts were collected \(ISO 8601\)/,
  },
  // inventories
  {
    what: 'inventory: no version',
    args: () => ['fleet', 'plan', '--inventory', file('nover.yaml', 'hosts: [{name: a, profile: p}]\n')],
    code: 1,
    message: /nover\.yaml:1:1: \(top level\): missing required field 'version'/,
  },
  {
    what: 'inventory: one name twice',
    args: () => [
      'fleet',
      'plan',
      '--inventory',
      file(
        'twonames.yaml',
        'version: 1\nhosts:\n  - {name: a, profile: p, address: 10.0.0.1}\n  - {name: a, profile: p, address: 10.0.0.2}\n',
      ),
    ],
    code: 1,
    message: /twonames\.yaml:4:12: hosts\[1\]\.name: 'a' is already hosts\[0\]/,
  },
  {
    what: 'inventory: an address with an ssh option after it',
    args: () => [
      'fleet',
      'plan',
      '--inventory',
      file('addropt.yaml', 'version: 1\nhosts: [{name: a, profile: p, address: "10.0.0.1 -oX"}]\n'),
    ],
    code: 1,
    message: /hosts\[0\]\.address: '10\.0\.0\.1 -oX' is neither an IP address nor a DNS name/,
  },
  {
    what: 'inventory: address 999.1.1.1',
    args: () => ['fleet', 'plan', '--inventory', file('addr999.yaml', 'version: 1\nhosts: [{name: a, profile: p, address: 999.1.1.1}]\n')],
    code: 1,
    message: /hosts\[0\]\.address: '999\.1\.1\.1' is neither an IP address nor a DNS name/,
  },
  {
    what: 'inventory: port 70000',
    args: () => ['fleet', 'plan', '--inventory', file('port.yaml', 'version: 1\nhosts: [{name: a, profile: p, port: 70000}]\n')],
    code: 1,
    message: /port\.yaml:2:37: hosts\[0\]\.port: must be a TCP port \(1-65535\)/,
  },
  {
    what: 'inventory: an unknown field',
    args: () => ['fleet', 'plan', '--inventory', file('color.yaml', 'version: 1\nhosts: [{name: a, profile: p, color: red}]\n')],
    code: 1,
    message: /hosts\[0\]\.color: unknown field 'color'/,
  },
  {
    what: 'inventory: no hosts',
    args: () => ['fleet', 'plan', '--inventory', file('nohosts.yaml', 'version: 1\nhosts: []\n')],
    code: 1,
    message: /nohosts\.yaml:2:1: hosts: must list at least one host/,
  },
  {
    what: 'inventory: a host name with a space',
    args: () => ['fleet', 'plan', '--inventory', file('space.yaml', 'version: 1\nhosts: [{name: "a b", profile: p}]\n')],
    code: 1,
    message: /hosts\[0\]\.name: must be a host name/,
  },
  {
    what: 'inventory: a host without a profile',
    args: () => ['fleet', 'plan', '--inventory', file('noprof.yaml', 'version: 1\nhosts: [{name: a}]\n')],
    code: 1,
    message: /hosts\[0\]\.profile: no profile for a: set it on the host, one of its groups, or defaults/,
  },
  // flags
  {
    what: 'flag: --limit with 14 stars (a linear matcher: no time bomb)',
    args: () => [
      'fleet',
      'plan',
      '--inventory',
      file('long.yaml', `version: 1\nhosts: [{name: ${'a'.repeat(50)}b, profile: p}]\n`),
      '--limit',
      `${'*a'.repeat(14)}*c`,
    ],
    code: 64,
    message: /--limit '(\*a){14}\*c' selects no host of .*long\.yaml/,
  },
  {
    what: 'flag: --phase empty',
    args: () => ['plan', '--profile', seed, '--facts', seedFacts, '--phase', ''],
    code: 64,
    message: /--phase : must be one of prepare, suspend, kexec, resume, abort, update, all/,
  },
  {
    what: 'flag: --host without an address',
    args: () => ['facts', '--host', 'root@:99'],
    code: 64,
    message: /--host root@:99: expected \[user@\]address\[:port\] or a Host of ssh_config/,
  },
  {
    what: 'flag: demo --backend bogus',
    args: () => ['demo', '--backend', 'bogus'],
    code: 64,
    message: /--backend bogus: expected pmem, luo or pkernfs/,
  },
  { what: 'flag: validate without a profile', args: () => ['validate'], code: 64, message: /missing required argument 'profile'/ },
  {
    what: 'flag: fleet run --forks (a run takes rollout.concurrency)',
    args: () => [
      'fleet',
      'run',
      '--inventory',
      file('inv3.yaml', 'version: 1\nhosts: [{name: a, profile: p}]\n'),
      '--fleet-dir',
      join(dir, 'no-fleet'),
      '--forks',
      '3',
    ],
    code: 64,
    message: /--forks is how many hosts --dry-run probes at once/,
  },
  {
    what: 'flag: fleet run --dry-run --resume',
    args: () => [
      'fleet',
      'run',
      '--inventory',
      file('inv4.yaml', 'version: 1\nhosts: [{name: a, profile: p}]\n'),
      '--fleet-dir',
      join(dir, 'no-fleet'),
      '--dry-run',
      '--resume',
      'x',
    ],
    code: 64,
    message: /--dry-run plans the hosts afresh; drop --resume/,
  },
  {
    what: 'flag: plan without --profile',
    args: () => ['plan', '--facts', seedFacts],
    code: 64,
    message: /required option '--profile <file>' not specified/,
  },
  {
    what: 'flag: run without --profile or --plan',
    args: () => ['run', '--yes'],
    code: 64,
    message: /required option '--profile <file>' not specified \(or --plan FILE, a plan saved with liveupdate plan --out\)/,
  },
  {
    what: 'file: --plan a directory',
    args: () => ['run', '--plan', dir],
    code: 64,
    message: /saved plan .* is not a regular file \(a directory\)/,
  },
  {
    what: 'file: --plan not JSON',
    args: () => ['kexec', '--plan', file('x.plan', 'steps: [\n')],
    code: 64,
    message: /x\.plan: not a saved plan \(not JSON: /,
  },
  {
    what: 'file: --plan of another format version',
    args: () => [
      'resume',
      '--plan',
      file(
        'v9.plan',
        JSON.stringify({
          type: 'saved-plan',
          formatVersion: 9,
          profile: { path: '/p', sha256: 'x' },
          selection: 'resume',
          plan: { steps: [], facts: { bootId: 'b' } },
        }),
      ),
    ],
    code: 64,
    message: /v9\.plan: saved plan format 9, this liveupdate reads 1; make the plan again/,
  },
  {
    what: 'flag: plan --out into a missing folder',
    args: () => ['plan', '--profile', seed, '--facts', seedFacts, '--out', join(dir, 'no/such/dir/p.plan')],
    code: 64,
    message: /--out .*p\.plan: cannot write it: ENOENT/,
  },
];

for (const c of CASES) {
  test(`${c.what}: exit ${c.code}, a message, no stack trace`, () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...c.args()], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, null, `killed by ${String(r.signal)} (hung or ran away)`);
    assert.equal(r.status, c.code, r.stderr);
    assert.match(r.stderr, c.message);
    assert.doesNotMatch(r.stderr, /\n\s+at |hit a bug/);
  });
}

test('a typo in a flag is said first, with what it meant, even where a required flag is then missing; a typo in a field names the field it meant', () => {
  for (const [args, said] of [
    [['plan', '--profle', seed], /unknown option '--profle'\n\(Did you mean --profile\?\)/],
    [['plan', '--profile', seed, '--fatcs', seedFacts], /unknown option '--fatcs'\n\(Did you mean --facts\?\)/],
    [['fleet', 'run', '--inventroy', 'x.yaml'], /unknown option '--inventroy'\n\(Did you mean --inventory\?\)/],
  ] as const) {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 64, r.stderr);
    assert.match(r.stderr, said);
    assert.doesNotMatch(r.stderr, /required option/);
  }
  const inv = file(
    'ansible-words.yaml',
    'version: 1\nhosts:\n  - {name: a, ansible_host: 10.0.0.1, profile: p.yaml}\nrollout: {max_fail_percentage: 10}\n',
  );
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), 'fleet', 'plan', '--inventory', inv], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /hosts\[0\]\.ansible_host: unknown field 'ansible_host' \(did you mean 'address'\?\)/);
  assert.match(r.stderr, /rollout\.max_fail_percentage: unknown field 'max_fail_percentage' \(did you mean 'maxFailPercentage'\?\)/);
});

test('a file of the wrong kind is named as such: a plan given as facts, a profile or an inventory is one message, not a list of missing fields; a missing file says so in words', () => {
  const cliRun = (args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args], { encoding: 'utf8', timeout: 30_000 });
  const planJson = cliRun(['plan', '--profile', seed, '--facts', seedFacts, '--json']);
  assert.equal(planJson.status, 0, planJson.stderr);
  const plan = file('a-plan.json', planJson.stdout);
  for (const args of [
    ['plan', '--profile', seed, '--facts', plan],
    ['validate', plan],
    ['fleet', 'plan', '--inventory', plan],
  ]) {
    const r = cliRun(args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /1 problem[\s\S]*type: this is a "plan" document, liveupdate's own output, not this kind of input file \(a saved plan runs with run --plan FILE\)/,
    );
    assert.doesNotMatch(r.stderr, /missing required field/);
  }
  const missing = cliRun(['plan', '--profile', seed, '--facts', join(dir, 'no-such-facts.json')]);
  assert.match(missing.stderr, /cannot read facts file .*no-such-facts\.json: ENOENT \(no such file\)/);
  const serial = cliRun([
    'fleet',
    'plan',
    '--inventory',
    file('serial-list.yaml', 'version: 1\nhosts:\n  - {name: a, address: 10.0.0.1, profile: p.yaml}\nrollout: {serial: [x]}\n'),
  ]);
  assert.match(serial.stderr, /rollout\.serial: must be a host count, a percentage like "20%", or a list of them/);
  assert.doesNotMatch(serial.stderr, /anyOf/);
});

test('a runtime folder with a comma reaches QEMU as one value (escaped), not as options', () => {
  const p = profile('qmp-comma.yaml', 'vms:\n', 'runtime: {dir: "/run/x,server=off"}\nvms:\n');
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), 'plan', '--profile', p, '--facts', seedFacts, '--json'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const plan = JSON.parse(r.stdout) as { steps: Array<{ argv?: unknown }> };
  const qmpArgs = plan.steps
    .flatMap((st) => (Array.isArray(st.argv) ? (st.argv as unknown[]) : []))
    .filter((a): a is string => typeof a === 'string' && a.startsWith('unix:/run/x'));
  assert.ok(qmpArgs.length > 0, 'the VM is started with its QMP socket');
  for (const a of qmpArgs) assert.equal(a, 'unix:/run/x,,server=off/vms/guest0/qmp.sock,server=on,wait=off');
});

test("a path flag written --flag=~/FILE (no shell expands that ~) is the operator's home", () => {
  const home = tempDir('/tmp/lu-home-');
  writeFileSync(join(home, 'p.yaml'), readFileSync(seed, 'utf8'));
  for (const args of [
    ['validate', '~/p.yaml'],
    ['plan', '--profile=~/p.yaml', `--facts=${seedFacts}`],
  ]) {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, HOME: home },
    });
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  }
});

test('fleet status before any run says so (exit 0); fleet run --dry-run plans as fleet plan does and writes nothing', () => {
  const inv = file('inv-dry.yaml', 'version: 1\nhosts: [{name: a, profile: missing.yaml}]\n');
  const fleetDir = join(dir, 'fleet-never');
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
  const st = cli('fleet', 'status', '--inventory', inv, '--fleet-dir', fleetDir, '--json');
  assert.equal(st.status, 0, st.stderr);
  assert.deepEqual(JSON.parse(st.stdout), { type: 'fleet-status', formatVersion: 1, runId: null, state: 'none', hosts: [] });
  const dry = cli('fleet', 'run', '--inventory', inv, '--fleet-dir', fleetDir, '--dry-run');
  assert.equal(dry.status, 1, dry.stderr);
  assert.match(
    dry.stdout,
    /a {2}batch 1 {2}CANNOT PLAN: cannot read profile .*missing\.yaml: ENOENT \(no such file\)\n[\s\S]*nothing was changed/,
  );
  assert.equal(existsSync(fleetDir), false, 'a dry run keeps no journal');
});

test('at least 80 hostile inputs through the real CLI, each with its exit code and message', () => {
  assert.ok(CASES.length >= 80, `${CASES.length} cases`);
  assert.equal(new Set(CASES.map((c) => c.what)).size, CASES.length, 'each case says what it is');
});

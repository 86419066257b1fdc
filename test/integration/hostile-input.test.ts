// Hostile and broken input files (issue 18), through the real CLI process (bin/liveupdate.js):
// each case names the exit code and the message an operator sees; none may end in a stack trace,
// hang, or read without end. Real files, FIFOs and devices of this machine; no host is touched
// (every command here only reads files: validate, plan --facts, fleet status).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';

const dir = mkdtempSync('/tmp/lu-hostile-');
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
const aliasBomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 12 }, (_, i) => `l${i + 1}: &l${i + 1} [${Array(9).fill(`*${i ? `l${i}` : 'a'}`).join(', ')}]`)].join('\n') + '\n';

interface Case {
  what: string;
  args: () => string[];
  code: number;
  message: RegExp;
}

const CASES: Case[] = [
  // class 1: size and shape
  { what: 'profile: a YAML alias bomb', args: () => ['validate', file('bomb.yaml', aliasBomb)], code: 1, message: /bomb\.yaml:1:1: YAML aliases expand too far/ },
  { what: 'inventory: a YAML alias bomb', args: () => ['fleet', 'status', '--inventory', file('bomb-inv.yaml', aliasBomb), '--fleet-dir', dir], code: 1, message: /bomb-inv\.yaml:1:1: YAML aliases expand too far/ },
  { what: 'profile: 100 000 levels of flow nesting', args: () => ['validate', file('deep.yaml', `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`)], code: 1, message: /deep\.yaml:1:\d+: nested too deeply/ },
  { what: 'profile: a character device', args: () => ['validate', '/dev/zero'], code: 1, message: /profile \/dev\/zero is not a regular file \(a character device\)/ },
  { what: 'profile: /dev/urandom through plan', args: () => ['plan', '--profile', '/dev/urandom', '--facts', seedFacts], code: 1, message: /profile \/dev\/urandom is not a regular file \(a character device\)/ },
  { what: 'profile: a FIFO nobody writes to', args: () => ['validate', fifo('profile.fifo')], code: 1, message: /profile\.fifo is not a regular file \(a FIFO\)/ },
  { what: 'profile: a directory', args: () => ['validate', dir], code: 1, message: /is not a regular file \(a directory\)/ },
  { what: 'profile: 5 MB of one scalar', args: () => ['validate', file('big.yaml', 'a'.repeat(5_000_000))], code: 1, message: /big\.yaml is larger than 4M, the most liveupdate reads/ },
  { what: 'facts file: a character device', args: () => ['plan', '--profile', seed, '--facts', '/dev/zero'], code: 1, message: /facts file \/dev\/zero is not a regular file \(a character device\)/ },
  { what: 'facts file: a FIFO', args: () => ['plan', '--profile', seed, '--facts', fifo('facts.fifo')], code: 1, message: /facts\.fifo is not a regular file \(a FIFO\)/ },
  { what: 'facts file: 5 MB', args: () => ['plan', '--profile', seed, '--facts', file('big.json', ' '.repeat(5_000_000))], code: 1, message: /big\.json is larger than 4M/ },
  { what: 'facts file: 100 000 levels of JSON nesting', args: () => ['plan', '--profile', seed, '--facts', file('deep.json', `${'['.repeat(100_000)}${']'.repeat(100_000)}`)], code: 1, message: /deep\.json: / },
  { what: 'inventory: a character device', args: () => ['fleet', 'plan', '--inventory', '/dev/zero'], code: 1, message: /inventory \/dev\/zero is not a regular file/ },
  // class 2: facts files are checked against their schema (src/facts/schema.json), each problem at file:line:col
  { what: 'facts file: no devices', args: () => ['plan', '--profile', seed, '--facts', facts('no-devices.json', (f) => delete f['devices'])], code: 1, message: /no-devices\.json:1:1: \(top level\): missing required field 'devices'/ },
  { what: 'facts file: no files', args: () => ['plan', '--profile', seed, '--facts', facts('no-files.json', (f) => delete f['files'])], code: 1, message: /no-files\.json:1:1: \(top level\): missing required field 'files'/ },
  { what: 'facts file: a null inside iomem', args: () => ['plan', '--profile', seed, '--facts', facts('null-iomem.json', (f) => ((f['iomem'] as unknown[])[1] = null))], code: 1, message: /null-iomem\.json:\d+:\d+: iomem\[1\]: must be object/ },
  { what: 'facts file: a range start that is not a number', args: () => ['plan', '--profile', seed, '--facts', facts('str-start.json', (f) => ((f['iomem'] as Array<Record<string, unknown>>)[0]!['start'] = '0x1000'))], code: 1, message: /str-start\.json:\d+:\d+: iomem\[0\]\.start: must be a whole number of bytes/ },
  { what: 'facts file: a boot id that is not one', args: () => ['plan', '--profile', seed, '--facts', facts('bad-boot.json', (f) => (f['bootId'] = 'x; reboot'))], code: 1, message: /bad-boot\.json:\d+:\d+: bootId: must be \/proc\/sys\/kernel\/random\/boot_id/ },
  { what: 'facts file: a negative memory total', args: () => ['plan', '--profile', seed, '--facts', facts('neg-mem.json', (f) => (f['memTotal'] = -1))], code: 1, message: /neg-mem\.json:\d+:\d+: memTotal: must be a whole number of bytes/ },
  // class 12: errors that were bugs (the key is read before any connection: port 1 is never dialled)
  { what: '--identity: no such file', args: () => ['facts', '--host', 'root@127.0.0.1:1', '--identity', join(dir, 'no-key')], code: 64, message: /--identity .*no-key: cannot read it: ENOENT/ },
  { what: '--identity: a directory', args: () => ['facts', '--host', 'root@127.0.0.1:1', '--identity', dir], code: 64, message: /--identity .*: cannot read it: EISDIR/ },
  { what: '--identity: not a key', args: () => ['facts', '--host', 'root@127.0.0.1:1', '--identity', file('not-a-key', 'hello\n')], code: 1, message: /not-a-key: not a private key liveupdate can read/ },
  { what: '--identity: encrypted with a passphrase', args: () => ['facts', '--host', 'root@127.0.0.1:1', '--identity', encryptedKey()], code: 1, message: /id_encrypted: the key is encrypted with a passphrase, and liveupdate does not ask for one\nhint: load it into ssh-agent \(ssh-add / },
  // values that reached the host's commands or QEMU before (classes 3, 5, 7), through validate and plan
  { what: 'profile: --incoming in qemu.args', args: () => ['validate', profile('incoming.yaml', 'args: [', 'args: [--incoming, "tcp:0:1", ')], code: 1, message: /'--incoming' is managed by liveupdate/ },
  { what: 'profile: -pidfile= in qemu.args', args: () => ['validate', profile('pidfile.yaml', 'args: [', 'args: ["-pidfile=/tmp/x", ')], code: 1, message: /'-pidfile=\/tmp\/x' is managed by liveupdate/ },
  { what: 'profile: mount point /', args: () => ['validate', profile('mount-root.yaml', 'mount: /mnt/pkernfs', 'mount: /')], code: 1, message: /persistence\.mount: \/ is a system directory/ },
  { what: 'profile: mount point /etc through ..', args: () => ['validate', profile('mount-etc.yaml', 'mount: /mnt/pkernfs', 'mount: /mnt/../etc')], code: 1, message: /persistence\.mount: \/etc is a system directory/ },
  { what: 'profile: memory 0', args: () => ['validate', profile('mem0.yaml', 'memory: 100M', 'memory: 0M')], code: 1, message: /vms\[0\]\.memory: must be at least 1M/ },
  { what: 'profile: a migration timeout Node would fire at once', args: () => ['validate', profile('timeout.yaml', '  mode: auto\n', '  mode: auto\n  timeout: 36000000m\n')], code: 1, message: /migration\.timeout: must be between 1s and 1440m/ },
  // flags: usage errors (64), nothing read further
  { what: 'flag: --phase bogus', args: () => ['plan', '--profile', seed, '--facts', seedFacts, '--phase', 'bogus'], code: 64, message: /--phase bogus: must be one of/ },
  { what: 'flag: --via telnet', args: () => ['run', '--profile', seed, '--host', 'root@127.0.0.1:1', '--via', 'telnet'], code: 64, message: /--via telnet: expected agent or ssh/ },
  { what: 'flag: --agent with --via ssh', args: () => ['run', '--profile', seed, '--host', 'root@127.0.0.1:1', '--via', 'ssh', '--agent'], code: 64, message: /--agent and --via ssh contradict each other/ },
  { what: 'flag: an unknown option', args: () => ['plan', '--profile', seed, '--yolo'], code: 64, message: /unknown option '--yolo'/ },
  { what: 'flag: demo --port 99999', args: () => ['demo', '--port', '99999'], code: 64, message: /--port 99999: expected a TCP port number/ },
  { what: 'flag: demo --count 0', args: () => ['demo', '--count', '0'], code: 64, message: /--count 0: expected seconds between 1 and 600/ },
  { what: 'flag: fleet plan --forks 0', args: () => ['fleet', 'plan', '--inventory', file('inv.yaml', 'version: 1\nhosts: [{name: a, profile: p}]\n'), '--forks', '0'], code: 64, message: /--forks 0: expected a positive integer/ },
  { what: 'flag: fleet --limit with an empty term', args: () => ['fleet', 'plan', '--inventory', file('inv2.yaml', 'version: 1\nhosts: [{name: a, profile: p}]\n'), '--limit', 'a,,b'], code: 64, message: /--limit 'a,,b': empty term/ },
  // inventories (class 9)
  { what: 'inventory: one machine twice', args: () => ['fleet', 'plan', '--inventory', file('twice.yaml', 'version: 1\ndefaults: {profile: p}\nhosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.1}\n')], code: 1, message: /twice\.yaml:5:24: hosts\[1\]\.address: 10\.0\.0\.1 port 22 is already hosts\[0\] \(a\)/ },
  { what: 'inventory: an address that is an ssh option', args: () => ['fleet', 'plan', '--inventory', file('opt.yaml', 'version: 1\nhosts: [{name: a, profile: p, address: "-oProxyCommand=sh"}]\n')], code: 1, message: /hosts\[0\]\.address: '-oProxyCommand=sh' is neither an IP address nor a DNS name/ },
  { what: 'inventory: a connect rate of 1e-8', args: () => ['fleet', 'plan', '--inventory', file('rate.yaml', 'version: 1\nhosts: [{name: a, profile: p}]\nrollout: {connectRate: 0.00000001}\n')], code: 1, message: /rollout\.connectRate: must be new SSH connections per second, from 0\.01/ },
  { what: 'profile: missing', args: () => ['validate', join(dir, 'nope.yaml')], code: 1, message: /cannot read profile .*nope\.yaml: ENOENT/ },
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

test('a QMP socket path with a comma reaches QEMU as one value (escaped), not as options', () => {
  const p = profile('qmp-comma.yaml', '  - name: guest0\n', '  - name: guest0\n    qmp: "/run/x,server=off"\n');
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), 'plan', '--profile', p, '--facts', seedFacts, '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const plan = JSON.parse(r.stdout) as { steps: Array<{ argv?: unknown }> };
  const qmpArgs = plan.steps.flatMap((st) => (Array.isArray(st.argv) ? (st.argv as unknown[]) : [])).filter((a): a is string => typeof a === 'string' && a.startsWith('unix:/run/x'));
  assert.ok(qmpArgs.length > 0, 'the VM is started with its QMP socket');
  for (const a of qmpArgs) assert.equal(a, 'unix:/run/x,,server=off,server=on,wait=off');
});

test('at least 40 hostile inputs through the real CLI, each with its exit code and message', () => {
  assert.ok(CASES.length >= 40, `${CASES.length} cases`);
});

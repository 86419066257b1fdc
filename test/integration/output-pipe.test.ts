// Output is whole or the command fails: the real CLI (bin/liveupdate.js) writing into real pipes
// (sh's `|`), against the same output written into a file. No double: the plan is of a 40-VM
// profile made from profiles/pmem-stock.yaml, from its facts file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, profilePath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('/var/tmp/lu-pipe-');
const profile = join(dir, 'forty.yaml');
const stock = readFileSync(profilePath('pmem-stock.yaml'), 'utf8');
const vms = Array.from(
  { length: 40 },
  (_, n) => `  - name: vm${n}\n    memory: 64M\n    qemu: { cpus: 1, args: [-nodefaults, -display, none] }\n`,
).join('');
writeFileSync(profile, stock.slice(0, stock.indexOf('vms:')) + 'vms:\n' + vms);
const plan = ['plan', '--profile', profile, '--facts', join(ROOT, 'profiles/facts/pmem-host.json')];
const cli = `node ${join(ROOT, 'bin/liveupdate.js')}`;
const sh = (line: string): { code: number | null; stdout: string; stderr: string } => {
  const r = spawnSync('sh', ['-c', line], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const quoted = plan.map((a) => `'${a}'`).join(' ');

test.after(() => execFileSync('rm', ['-rf', dir]));

test('a plan far over a pipe buffer arrives whole through a pipe, as written to a file, for people and as JSON', () => {
  for (const json of ['', ' --json']) {
    const file = join(dir, `plan${json ? '.json' : '.txt'}`);
    const toFile = sh(`${cli} ${quoted}${json} > ${file}`);
    assert.equal(toFile.code, 0, toFile.stderr);
    const whole = readFileSync(file, 'utf8');
    assert.ok(whole.length > 3 * 65_536, `the plan is ${whole.length} bytes, several pipe buffers`);
    // a few times: a cut output depended on when the process exited against the reader
    for (let i = 0; i < 3; i++) {
      const piped = sh(`${cli} ${quoted}${json} | cat`);
      assert.equal(piped.code, 0, piped.stderr);
      assert.equal(piped.stdout.length, whole.length, `run ${i}: ${piped.stdout.length} of ${whole.length} bytes through the pipe`);
      assert.equal(piped.stdout, whole);
    }
    if (json) assert.equal((JSON.parse(whole) as { type: string }).type, 'plan');
  }
});

test('a reader that stops early (head) takes the rest of the output, not the command: exit 0, no stack trace', () => {
  const r = sh(`${cli} ${quoted} --json | head -c 100 > /dev/null; echo "exit $?"`);
  // `$?` of a pipeline is head's; the CLI's own is in PIPESTATUS, which sh has not: ask bash
  const b = spawnSync('bash', ['-c', `${cli} ${quoted} --json | head -c 100 > /dev/null; echo "cli \${PIPESTATUS[0]}"`], {
    encoding: 'utf8',
  });
  assert.equal(b.stdout.trim(), 'cli 0', b.stderr);
  assert.equal(b.stderr, '', 'nothing on stderr');
  assert.equal(r.stderr, '');
});

test('what a reviewer sees is what runs: a control sequence in a profile value is shown escaped in the plan, never sent to the terminal', () => {
  const file = join(dir, 'hidden.yaml');
  // YAML's "\e" is ESC: the sequence would conceal the rest of the line on a terminal
  writeFileSync(
    file,
    stock.replace('args: [-nodefaults, -display, none]', 'args: [-nodefaults, -drive, "file=/srv/a.img\\e[8m,format=raw\\u202e"]'),
  );
  const r = sh(`${cli} plan --profile '${file}' --facts '${join(ROOT, 'profiles/facts/pmem-host.json')}' | cat`);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes('\x1b'), 'a raw ESC reached the output');
  assert.ok(!r.stdout.includes('\u202e'), 'a raw bidi override reached the output');
  assert.match(r.stdout, /file=\/srv\/a\.img\\x1b\[8m,format=raw\\u202e/);
});

test('writes do not follow or replace what they should not: --out refuses a device, a symlink and a folder, and a saved plan is 0600', () => {
  const args = `plan --profile '${profile}' --facts '${join(ROOT, 'profiles/facts/pmem-host.json')}'`;
  const devnull = statSync('/dev/null');
  const link = join(dir, 'link.plan');
  symlinkSync(join(dir, 'elsewhere'), link);
  for (const [target, said] of [
    ['/dev/null', /--out \/dev\/null: it is not a regular file/],
    [link, /it is a symlink/],
    [dir, /it is a folder/],
  ] as const) {
    const r = sh(`${cli} ${args} --out '${target}'`);
    assert.equal(r.code, 64, r.stderr);
    assert.match(r.stderr, said);
  }
  assert.ok(statSync('/dev/null').isCharacterDevice() && statSync('/dev/null').rdev === devnull.rdev, '/dev/null is still the device');
  assert.ok(!existsSync(join(dir, 'elsewhere')), 'nothing was written through the symlink');
  const saved = join(dir, 'saved.plan');
  const r = sh(`umask 022; ${cli} ${args} --out '${saved}'`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(saved).mode & 0o777, 0o600);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('.part')),
    [],
    'no partial file left',
  );
});

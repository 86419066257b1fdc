// Real host: probes this machine through LocalHost (plain spawn) and checks against /proc directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { gatherFacts, probeFacts } from '../../src/facts/gather.js';
import { parseProbeOutput } from '../../src/facts/parse.js';
import { probeArgv } from '../../src/facts/probe.js';
import { factRules } from '../../src/plan/rules.js';
import { parseProfile } from '../../src/profile/load.js';
import { LocalHost } from '../../src/host/local.js';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

test('facts of this machine match /proc', async () => {
  const f = await gatherFacts(new LocalHost(), undefined);
  assert.equal(f.bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  assert.equal(f.cmdline, readFileSync('/proc/cmdline', 'utf8').trim());
  assert.equal(f.kernelRelease, readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
  assert.ok(f.iomem.some((r) => r.name === 'System RAM'));
  assert.ok(f.mounts.some((m) => m.target === '/'));
  assert.equal(f.kernelVersion, readFileSync('/proc/sys/kernel/version', 'utf8').trim());
});

test("the probe reads the build string of the profile's kexec kernel from its setup header, as the boot proof does", async () => {
  const dir = tempDir('kimg');
  // the header as a bzImage has it (a test double of an image: 'HdrS' at 0x202, at 0x20e where the
  // build string is, less 0x200), then the string; and a file that is not one
  const image = Buffer.alloc(0x600);
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(0x300, 0x20e);
  image.write('6.18.0-lab (root@lab) #3 SMP PREEMPT_DYNAMIC Mon Dec  7 10:00:00 UTC 2026\0', 0x500, 'latin1');
  writeFileSync(join(dir, 'vmlinuz'), image);
  writeFileSync(join(dir, 'not-a-kernel'), 'text\n');
  const read = async (path: string) => (await probeFacts(new LocalHost(), { qemu: [], files: [path], kernelImage: path })).kexecImage;
  assert.deepEqual(await read(join(dir, 'vmlinuz')), {
    path: join(dir, 'vmlinuz'),
    build: '6.18.0-lab (root@lab) #3 SMP PREEMPT_DYNAMIC Mon Dec  7 10:00:00 UTC 2026',
  });
  assert.deepEqual(await read(join(dir, 'not-a-kernel')), { path: join(dir, 'not-a-kernel'), build: null });
  assert.deepEqual(await read(join(dir, 'missing')), { path: join(dir, 'missing'), build: null });
});

test('the CLI binary prints facts as JSON and exits 0', () => {
  const out = execFileSync(process.execPath, [`${ROOT}/bin/liveupdate.js`, 'facts', '--json'], { encoding: 'utf8' });
  const f = JSON.parse(out) as { formatVersion: number; bootId: string };
  assert.equal(f.formatVersion, 1);
  assert.equal(f.bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
});

test('the CLI binary: a user mistake is a message and exit 1, never a stack trace', () => {
  try {
    execFileSync(process.execPath, [`${ROOT}/bin/liveupdate.js`, 'validate', 'test/fixtures/profiles/bad-size.yaml'], {
      encoding: 'utf8',
      stdio: 'pipe',
      cwd: ROOT,
    });
    assert.fail('should exit non-zero');
  } catch (e) {
    const err = e as { status: number; stderr: string };
    assert.equal(err.status, 1);
    assert.match(err.stderr, /bad-size.yaml:9:13: vms\[0\].memory: must be a size like 512M, 4G or 4GiB/);
    assert.doesNotMatch(err.stderr, /\n\s+at /);
  }
});

test('the probe runs only the literal QEMU binaries it is given: a glob in one is a name, never expanded and run', async () => {
  const dir = tempDir('/tmp/lu-probe-glob-');
  try {
    // two programs a glob would match; each leaves a mark when it runs
    for (const name of ['qemu-a', 'qemu-b'])
      writeFileSync(join(dir, name), `#!/bin/sh\ntouch ${dir}/ran-${name}\necho QEMU emulator version 9.9.9\n`, { mode: 0o755 });
    const r = await new LocalHost().exec(probeArgv([`${dir}/qemu-*`, `${dir}/qemu-a`], []));
    assert.equal(r.exitCode, 0);
    const f = parseProbeOutput(r.stdout, new Date().toISOString());
    assert.deepEqual(
      f.qemu.map((q) => q.binary),
      [`${dir}/qemu-*`, `${dir}/qemu-a`],
    );
    assert.equal(f.qemu.find((q) => q.binary === `${dir}/qemu-*`)?.version, undefined, 'the glob was not run');
    assert.equal(f.qemu.find((q) => q.binary === `${dir}/qemu-a`)?.version, '9.9.9', 'the literal binary was');
    assert.ok(existsSync(join(dir, 'ran-qemu-a')));
    assert.ok(!existsSync(join(dir, 'ran-qemu-b')), 'qemu-b ran: the glob was expanded');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the probe runs nothing a binary's name does not name whole: a space or a newline in one is part of the name, never a second program", async () => {
  const dir = tempDir('/tmp/lu-probe-split-');
  try {
    writeFileSync(join(dir, 'evil'), `#!/bin/sh\ntouch ${dir}/ran-evil\n`, { mode: 0o755 });
    writeFileSync(join(dir, 'qemu-a'), `#!/bin/sh\necho QEMU emulator version 9.9.9\n`, { mode: 0o755 });
    const odd = [`${dir}/qemu-a ${dir}/evil`, `${dir}/qemu-a\n${dir}/evil`, `${dir}/qemu-a\t${dir}/evil`];
    const r = await new LocalHost().exec(
      probeArgv(
        [...odd, `${dir}/qemu-a`],
        [],
        [
          { name: 'a b', pidfile: `${dir}/a b/qemu.pid` },
          { name: 'vm1', pidfile: `${dir}/vm1 $(touch ${dir}/ran-evil)/qemu.pid` },
        ],
      ),
    );
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(!existsSync(join(dir, 'ran-evil')), 'a second program ran: a binary was split');
    // (a profile refuses control characters in a path: the probe's tab- and line-separated answer stays unambiguous)
    const spaced = await new LocalHost().exec(probeArgv([odd[0]!, `${dir}/qemu-a`], []));
    const f = parseProbeOutput(spaced.stdout, new Date().toISOString());
    assert.deepEqual(
      f.qemu.map((q) => [q.binary, q.version]),
      [
        [odd[0], undefined],
        [`${dir}/qemu-a`, '9.9.9'],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder is judged where this host resolves it: a state folder spelt on ext4 but linked into tmpfs is refused, naming both', async () => {
  const dir = tempDir('/var/tmp/lu-probe-resolve-');
  const shm = tempDir('/dev/shm/lu-probe-resolve-');
  try {
    symlinkSync(shm, join(dir, 'state'));
    const stateDir = join(dir, 'state', 'vm-state');
    const facts = await probeFacts(new LocalHost(), { qemu: [], files: [], dirs: [stateDir, dir] });
    assert.deepEqual(facts.paths, { [stateDir]: join(shm, 'vm-state'), [dir]: dir });
    const p = parseProfile(
      'p.yaml',
      `version: 1\nhost: {name: h}\npersistence: {backend: pmem, size: 256M, offset: 1G}\nkexec: {kernel: /boot/vmlinuz}\nmigration: {stateDir: ${stateDir}}\nvms: [{name: a, memory: 64M}]\n`,
    );
    assert.ok(p.value, JSON.stringify(p.errors));
    const { errors } = factRules(p.value, facts, p.locate);
    assert.match(
      JSON.stringify(errors),
      new RegExp(`migration.stateDir.*${stateDir} \\(${join(shm, 'vm-state')} on this host\\) is on tmpfs`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(shm, { recursive: true, force: true });
  }
});

test('a mount point is judged by what is there on this host, where the host resolves it: a folder with files is refused, an empty or missing one is not', async () => {
  const dir = tempDir('/var/tmp/lu-probe-holds-');
  try {
    mkdirSync(join(dir, 'empty'));
    mkdirSync(join(dir, 'keys'));
    writeFileSync(join(dir, 'keys', 'id_ed25519'), 'secret');
    writeFileSync(join(dir, 'file'), '');
    symlinkSync(join(dir, 'keys'), join(dir, 'link'));
    const names = ['empty', 'keys', 'file', 'link', 'missing'].map((n) => join(dir, n));
    const facts = await probeFacts(new LocalHost(), { qemu: [], files: [], dirs: names });
    assert.deepEqual(
      names.map((n) => facts.pathHolds?.[n]),
      ['empty', 'files', 'other', 'files', 'missing'],
    );
    const judged = (mount: string): string => {
      const p = parseProfile(
        'p.yaml',
        `version: 1\nhost: {name: h}\npersistence: {backend: pmem, size: 256M, offset: 1G, mount: ${mount}}\nkexec: {kernel: /boot/vmlinuz}\nvms: [{name: a, memory: 64M}]\n`,
      );
      assert.ok(p.value, JSON.stringify(p.errors));
      return JSON.stringify(factRules(p.value, facts, p.locate).errors.filter((e) => e.field === 'persistence.mount'));
    };
    assert.equal(judged(join(dir, 'empty')), '[]');
    assert.equal(judged(join(dir, 'missing')), '[]');
    assert.match(judged(join(dir, 'keys')), /has files in it on this host: mounting the carve-out there would hide them/);
    assert.match(judged(join(dir, 'link')), new RegExp(`${join(dir, 'link')} \\(${join(dir, 'keys')} on this host\\) has files in it`));
    assert.match(judged(join(dir, 'file')), /is not a folder on this host/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

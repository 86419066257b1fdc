// LocalHost does a few argv forms itself instead of starting the program (src/host/local.ts). Each
// case here runs the same argv both ways on this machine: through LocalHost.exec (in this process)
// and through the real coreutils program (`env ARGV...`, which LocalHost does not recognise and
// spawns), and compares stdout, exit code and what it did to the file system.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalHost } from '../../src/host/local.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('/var/tmp/lu-builtins-');
writeFileSync(join(dir, 'a'), 'alpha\n');
writeFileSync(join(dir, 'b'), 'beta');
symlinkSync('a', join(dir, 'link'));
const host = new LocalHost();

/** The argv done here and by the program: the same stdout, exit code, and stderr or none. */
async function both(argv: string[]): Promise<void> {
  const mine = await host.exec(argv);
  const real = await host.exec(['env', ...argv]);
  assert.equal(
    mine.exitCode,
    real.exitCode,
    `${argv.join(' ')}: exit ${mine.exitCode} here, ${real.exitCode} from the program (${real.stderr.trim()})`,
  );
  assert.equal(mine.stdout, real.stdout, argv.join(' '));
  assert.equal(
    mine.stderr === '',
    real.stderr === '',
    `${argv.join(' ')}: stderr here ${JSON.stringify(mine.stderr)}, program ${JSON.stringify(real.stderr)}`,
  );
}

test('test -e|-d|-f: files, folders, links, missing paths', async () => {
  for (const flag of ['-e', '-d', '-f']) for (const p of ['a', 'link', 'missing', '.', 'a/x']) await both(['test', flag, join(dir, p)]);
});

test('cat: one file, several, a /proc and a /sys file, a missing one', async () => {
  await both(['cat', join(dir, 'a')]);
  await both(['cat', join(dir, 'a'), join(dir, 'b'), join(dir, 'a')]);
  await both(['cat', '/proc/sys/kernel/random/boot_id']);
  await both(['cat', '/proc/cmdline']);
  await both(['cat', '/sys/kernel/kexec_loaded']);
  await both(['cat', join(dir, 'missing')]);
  await both(['cat', join(dir, 'a'), join(dir, 'missing')]);
});

test('mkdir -p: new nested folders, existing ones, a path through a file', async () => {
  const made = async (run: (a: string[]) => Promise<{ exitCode: number }>, base: string): Promise<number[]> => {
    const codes = [(await run(['mkdir', '-p', join(base, 'x/y'), join(base, 'z')])).exitCode];
    codes.push((await run(['mkdir', '-p', join(base, 'x/y')])).exitCode, (await run(['mkdir', '-p', join(dir, 'a', 'sub')])).exitCode);
    return codes;
  };
  const mine = await made((a) => host.exec(a), join(dir, 'mine'));
  const real = await made((a) => host.exec(['env', ...a]), join(dir, 'real'));
  assert.deepEqual(mine, [0, 0, 1]);
  assert.deepEqual(mine, real);
  for (const d of ['x', 'x/y', 'z']) {
    assert.ok(statSync(join(dir, 'mine', d)).isDirectory());
    assert.equal(statSync(join(dir, 'mine', d)).mode, statSync(join(dir, 'real', d)).mode, `${d}: same mode as the program makes`);
  }
});

test('readlink: a link, a file that is not one, a missing path', async () => {
  for (const p of ['link', 'a', 'missing']) await both(['readlink', join(dir, p)]);
});

test('other forms go to the program: options, input, an unknown command', async () => {
  // `cat -A` is not done here: the real cat marks line ends with $
  assert.equal((await host.exec(['cat', '-A', join(dir, 'a')])).stdout, 'alpha$\n');
  assert.equal((await host.exec(['cat'], { input: 'from stdin' })).stdout, 'from stdin');
  assert.equal((await host.exec(['no-such-program-here'])).exitCode, 127);
});

test('waitGone: a live process is waited for until it exits; a gone one at once', async () => {
  const child = spawn('sleep', ['0.3']);
  assert.equal(await host.waitGone(child.pid!, 5000), true);
  const stuck = spawn('sleep', ['30']);
  try {
    assert.equal(await host.waitGone(stuck.pid!, 200), false);
  } finally {
    stuck.kill('SIGKILL');
  }
  assert.equal(await host.waitGone(2 ** 22 + 1, 100), true);
});

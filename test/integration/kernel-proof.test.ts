// The boot proof on this machine's own kernel (LocalHost: real /proc, uname, sh, dd, od): the build
// string read from a bzImage's setup header (a file laid out as the x86 boot protocol says, since
// this machine has no kernel image of its own to read; the lab reads real ones before each real
// kexec), and the running kernel judged against what was loaded. The boot it "left" is a made-up id,
// so this boot counts as the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LiveupdateError } from '../../src/errors.js';
import { imageIdentity, runVerify } from '../../src/exec/runners/verify.js';
import type { RunEnv } from '../../src/exec/runners/env.js';
import { LocalHost } from '../../src/host/local.js';
import { QmpPool } from '../../src/qemu/pool.js';
import { tempDir } from '../helpers/temp.js';

const env = (vars: Record<string, string>): RunEnv => {
  const host = new LocalHost();
  return { host, qmp: new QmpPool(host), outcomes: new Map(), vars: { 'boot.recorded': 'a-boot-before-this-one', ...vars } };
};
const uname = (flag: string): string => execFileSync('uname', [flag], { encoding: 'utf8' }).trim();
const cmdline = readFileSync('/proc/cmdline', 'utf8').trim();

test("a bzImage's build string is read from its setup header; a file that is not one gives none", async () => {
  const d = tempDir('/var/tmp/lu-kernel-image-');
  try {
    const image = Buffer.alloc(0x3000);
    image.write('HdrS', 0x202, 'latin1');
    image.writeUInt16LE(0x1000, 0x20e); // kernel_version: the string is at 0x1000 + 0x200
    image.write('6.1.0-28-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)\0', 0x1200, 'latin1');
    writeFileSync(join(d, 'vmlinuz'), image);
    assert.deepEqual((await imageIdentity(env({}), join(d, 'vmlinuz')))['vars'], {
      'kernel.release': '6.1.0-28-amd64',
      'kernel.version': '#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)',
    });
    writeFileSync(join(d, 'not-a-kernel'), Buffer.alloc(0x3000, 0x41));
    assert.deepEqual(await imageIdentity(env({}), join(d, 'not-a-kernel')), { kernel: null });
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the running kernel is proven the one loaded, or named another: its release, its build, its command line', async () => {
  const me = { 'kernel.release': uname('-r'), 'kernel.version': uname('-v') };
  const proof = { kind: 'boot-changed' as const, params: [], cmdline, timeoutMs: 30_000 };
  const ok = await runVerify(proof, env(me));
  assert.deepEqual(ok['kernel'], { release: me['kernel.release'], version: me['kernel.version'], proven: 'the build of the image loaded' });

  const wrong = async (vars: Record<string, string>, v: typeof proof, said: RegExp): Promise<void> => {
    await assert.rejects(
      runVerify(v, env(vars)),
      (e: unknown) => e instanceof LiveupdateError && e.code === 'WRONG_KERNEL' && said.test(e.message),
    );
  };
  await wrong(
    { ...me, 'kernel.release': '9.9.9-other' },
    proof,
    /another kernel than the one loaded: it runs .*, the kernel loaded is 9\.9\.9-other/,
  );
  await wrong({ ...me, 'kernel.version': '#7 SMP another build' }, proof, /the kernel loaded was built '#7 SMP another build'/);
  await wrong(me, { ...proof, cmdline: `${cmdline} liveupdate.extra=1` }, /another command line than the one loaded/);
});

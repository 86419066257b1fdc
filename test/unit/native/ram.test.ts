// Guest RAM across the kexec, on the real helper binary and (for the start without truncate) the real
// QEMU of this machine: the fingerprint recorded before and checked after, and the seccomp filter
// that keeps QEMU from truncating a RAM file whose size reads 0 (as every pkernfs file does after a
// kexec). Plain files on this machine's disk stand in for the RAM file; pkernfs itself is in the lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalHost } from '../../../src/host/local.js';
import { helperBinary, type HelperResult } from '../../../src/native/helper.js';
import type { RunEnv } from '../../../src/exec/runners/env.js';
import { runStep } from '../../../src/exec/runners/step.js';
import { QmpPool } from '../../../src/qemu/pool.js';
import type { Step } from '../../../src/plan/types.js';
import { LiveupdateError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/temp.js';

const BIN = helperBinary('dynamic');
const MiB = 2 ** 20;

function helper(request: unknown): { code: number | null; doc: HelperResult; stderr: string } {
  const r = spawnSync(BIN, [], { input: JSON.stringify(request), encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, doc: JSON.parse(r.stdout.trim().split('\n')[0]!) as HelperResult, stderr: r.stderr };
}

function dir(): string {
  return tempDir('/tmp/lu-ram-');
}

test('ram.fingerprint: recorded, then the same RAM checks out and changed RAM is named block by block', () => {
  const d = dir();
  try {
    const ram = join(d, 'guest-ram');
    const print = join(d, 'vm.ram-fingerprint');
    writeFileSync(ram, randomBytes(24 * MiB));
    const rec = helper({ op: 'ram.fingerprint', path: ram, size: 24 * MiB, out: print });
    assert.equal(rec.code, 0, JSON.stringify(rec.doc));
    const r0 = rec.doc.results[0] as unknown as { digest: string; blocks: number; zeroBlocks: number };
    assert.equal(r0.blocks, 12);
    assert.equal(r0.zeroBlocks, 0);
    assert.match(r0.digest, /^[0-9a-f]{16}$/);
    assert.equal(readFileSync(print, 'utf8').split('\n')[0], `liveupdate-ram-fingerprint 1 size=${24 * MiB} blocks=12`);
    assert.ok(!existsSync(`${print}.part`));

    const same = helper({ op: 'ram.fingerprint', path: ram, size: 24 * MiB, compare: print });
    assert.equal(same.code, 0);
    assert.equal((same.doc.results[0] as unknown as { digest: string }).digest, r0.digest);

    // blocks 5 and 6 remapped to fresh (zeroed) memory, as a truncate on pkernfs does
    const buf = readFileSync(ram);
    buf.fill(0, 10 * MiB, 14 * MiB);
    writeFileSync(ram, buf);
    const changed = helper({ op: 'ram.fingerprint', path: ram, size: 24 * MiB, compare: print });
    assert.equal(changed.code, 1);
    assert.equal(changed.doc.error?.code, 'mismatch');
    assert.match(changed.doc.error.message, /2 of 12 2 MiB blocks differ .* \(the first at offset 0xa00000, which now reads all zeros\)/);

    // a fingerprint of another size, or a cut one, is refused before the RAM is read
    assert.match(
      helper({ op: 'ram.fingerprint', path: ram, size: 16 * MiB, compare: print }).doc.error!.message,
      /was recorded for 25165824 bytes of guest RAM, not 16777216/,
    );
    writeFileSync(print, readFileSync(print, 'utf8').split('\n').slice(0, 5).join('\n'));
    assert.match(
      helper({ op: 'ram.fingerprint', path: ram, size: 24 * MiB, compare: print }).doc.error!.message,
      /ends at block 4 of 12 \(cut short\)/,
    );
    writeFileSync(print, 'hello\n');
    assert.equal(helper({ op: 'ram.fingerprint', path: ram, size: 24 * MiB, compare: print }).doc.error?.code, 'invalid');
    // exactly one of out / compare; whole pages only
    assert.match(helper({ op: 'ram.fingerprint', path: ram, size: 24 * MiB }).doc.error!.message, /exactly one of "out"/);
    assert.match(helper({ op: 'ram.fingerprint', path: ram, size: 1000, out: print }).doc.error!.message, /whole number of 4 KiB pages/);
    assert.equal(helper({ op: 'ram.fingerprint', path: join(d, 'none'), size: 4096, out: print }).doc.error?.code, 'not-found');
    // a RAM file shorter than the VM's memory is said plainly (read where the file has read(), as here)
    assert.match(
      helper({ op: 'ram.fingerprint', path: ram, size: 48 * MiB, out: print }).doc.error!.message,
      /read guest RAM .* at offset 0x[0-9a-f]+ \(is it smaller than 50331648 bytes\?\)/,
    );
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a step whose RAM changed stops with RAM_CHANGED and says what to do next', async () => {
  const d = dir();
  try {
    const ram = join(d, 'guest-ram');
    const print = join(d, 'vm.ram-fingerprint');
    writeFileSync(ram, randomBytes(4 * MiB));
    const host = new LocalHost();
    const env: RunEnv = { host, qmp: new QmpPool(host), outcomes: new Map(), vars: { 'ram.dir': d } };
    const step = (how: 'out' | 'compare'): Step => ({
      id: `x/${how}`,
      phase: 'resume',
      blackout: true,
      idempotent: true,
      check: null,
      description: '',
      kind: 'helper-ioctl',
      ioctls: [],
      // placeholders are filled from the run's values, as argv is
      program: { ops: [{ op: 'ram.fingerprint', path: '{ram.dir}/guest-ram', size: 4 * MiB, [how]: print }] },
    });
    const out = await runStep(step('out'), env);
    assert.equal((out['results'] as Array<{ blocks: number }>)[0]!.blocks, 2);
    writeFileSync(ram, randomBytes(4 * MiB));
    await assert.rejects(runStep(step('compare'), env), (e: unknown) => {
      assert.ok(e instanceof LiveupdateError);
      assert.equal(e.code, 'RAM_CHANGED');
      assert.match(e.message, /^guest RAM .* 2 of 2 2 MiB blocks differ/);
      assert.match(e.message, /; nothing was started on that RAM, .* `liveupdate resume` checks it again and goes on$/);
      return true;
    });
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('guard.no_truncate: ftruncate to a listed size is refused (EPERM) in what the helper execs, any other size works', () => {
  const d = dir();
  try {
    const f = join(d, 'f');
    writeFileSync(f, '');
    const r = helper({
      ops: [{ op: 'guard.no_truncate', sizes: [8 * MiB, 5_000_000_000] }],
      then: { exec: ['sh', '-c', 'truncate -s 8M "$1"; truncate -s 5000000000 "$1"; truncate -s 3M "$1"', 'sh', f] },
    });
    assert.match(r.stderr, /failed to truncate .* at 8388608 bytes: Operation not permitted/);
    assert.match(r.stderr, /at 5000000000 bytes: Operation not permitted/);
    assert.equal(r.code, 0); // the last truncate, to a size not listed, went through
    assert.equal(statSync(f).size, 3 * MiB);
    assert.match(helper({ op: 'guard.no_truncate', sizes: [] }).doc.error!.message, /"sizes" must be a list of 1 to 32 byte counts/);
    assert.match(helper({ op: 'guard.no_truncate', sizes: [-1] }).doc.error!.message, /non-negative integer/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('qemu-start with noTruncate: the real QEMU maps a RAM file whose size reads 0 without truncating it (without the guard it does)', async () => {
  const d = dir();
  const host = new LocalHost();
  const env: RunEnv = { host, qmp: new QmpPool(host), outcomes: new Map(), vars: {} };
  const start = (name: string, noTruncate?: number[]): Step => ({
    id: `resume/restart/${name}`,
    phase: 'resume',
    timeoutMs: 60_000,
    blackout: true,
    idempotent: false,
    check: null,
    description: '',
    kind: 'qemu-start',
    vm: name,
    pidfile: join(d, `${name}.pid`),
    incoming: true,
    socket: join(d, `${name}.qmp`),
    argv: [
      'qemu-system-x86_64',
      '-machine',
      'pc,memory-backend=ram0',
      '-m',
      '16M',
      '-object',
      `memory-backend-file,id=ram0,size=${16 * MiB},mem-path=${join(d, name)},share=on`,
      '-nodefaults',
      '-display',
      'none',
      '-qmp',
      `unix:${join(d, `${name}.qmp`)},server=on,wait=off`,
      '-daemonize',
      '-pidfile',
      join(d, `${name}.pid`),
      '-S',
      '-incoming',
      'defer',
    ],
    ...(noTruncate ? { noTruncate } : {}),
  });
  const stop = (name: string): void => {
    const pid = Number(readFileSync(join(d, `${name}.pid`), 'utf8'));
    process.kill(pid, 'SIGKILL');
  };
  try {
    writeFileSync(join(d, 'guarded'), '');
    writeFileSync(join(d, 'plain'), '');
    await runStep(start('guarded', [16 * MiB]), env);
    stop('guarded');
    assert.equal(statSync(join(d, 'guarded')).size, 0, 'the guarded QEMU left the size-0 file as it was');
    await runStep(start('plain'), env);
    stop('plain');
    assert.equal(statSync(join(d, 'plain')).size, 16 * MiB, 'an unguarded QEMU truncates it (what loses RAM on pkernfs)');
  } finally {
    await env.qmp.closeAll();
    rmSync(d, { recursive: true, force: true });
  }
});

test('ram.fingerprint without a size: a file of any length (a save image) is fingerprinted by its whole pages, and checked against the size recorded; cut short or changed, it is named', () => {
  const d = dir();
  try {
    const image = join(d, 'web1.libvirt-save');
    const print = `${image}.fingerprint`;
    // not a whole number of pages: a save image ends where QEMU's stream ends
    writeFileSync(image, randomBytes(5 * MiB + 1234));
    const rec = helper({ op: 'ram.fingerprint', path: image, out: print });
    assert.equal(rec.code, 0, JSON.stringify(rec.doc));
    assert.equal(readFileSync(print, 'utf8').split('\n')[0], `liveupdate-ram-fingerprint 1 size=${5 * MiB} blocks=3`);
    assert.equal(helper({ op: 'ram.fingerprint', path: image, compare: print }).code, 0);
    const buf = readFileSync(image);
    buf.fill(0, 2 * MiB, 3 * MiB);
    writeFileSync(image, buf);
    const changed = helper({ op: 'ram.fingerprint', path: image, compare: print });
    assert.equal(changed.doc.error?.code, 'mismatch', JSON.stringify(changed.doc));
    writeFileSync(image, buf.subarray(0, 3 * MiB));
    const cut = helper({ op: 'ram.fingerprint', path: image, compare: print });
    assert.equal(cut.code, 1);
    assert.match(cut.doc.error?.message ?? '', /is it smaller than/);
    writeFileSync(image, 'tiny');
    assert.equal(helper({ op: 'ram.fingerprint', path: image, out: print }).doc.error?.code, 'invalid');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

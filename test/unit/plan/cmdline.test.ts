// Pure logic: cmdline composition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { composeKexecCmdline, managedParams, missingBootParams, splitCmdline } from '../../../src/plan/cmdline.js';
import { parseProfile } from '../../../src/profile/load.js';
import type { Persistence, Profile } from '../../../src/profile/types.js';

const G = 2 ** 30;
const pkernfs: Persistence = { backend: 'pkernfs', size: G, offset: G, mount: '/mnt/pkernfs' };
const pmem: Persistence = { backend: 'pmem', size: 256 * 2 ** 20, offset: G, mount: '/mnt/pmem', device: 'auto' };
const luo: Persistence = { backend: 'luo', khoScratch: 256 * 2 ** 20 };

function profile(extra = ''): Profile {
  const r = parseProfile(
    'p.yaml',
    `version: 1\nhost: {name: h}\npersistence: {backend: pmem, size: 256M, offset: 1G}\nkexec:\n  kernel: /boot/vmlinuz\n${extra}vms: [{name: a, memory: 64M}]\n`,
  );
  assert.ok(r.value, JSON.stringify(r.errors));
  return r.value;
}

test('managed params per backend, as the RFC and upstream spell them', () => {
  assert.deepEqual(managedParams(pkernfs, false), ['memmap=1G%1G', 'nopat', 'pkernfs=1G!1G', 'nokaslr']);
  assert.deepEqual(managedParams(pkernfs, true), ['memmap=1G%1G', 'nopat', 'pkernfs=1G!1G', 'nokaslr', 'liveupdate']);
  assert.deepEqual(managedParams(pmem, true), ['memmap=256M!1G']);
  assert.deepEqual(managedParams(luo, true), ['kho=on', 'liveupdate=on', 'kho_scratch=256M']);
});

test('reuse replaces stale managed params instead of repeating them', () => {
  const running = 'BOOT_IMAGE=/vmlinuz-6.1 root=/dev/vda ro memmap=512M!2G memmap=64M$0x1000000 quiet liveupdate';
  const { cmdline } = composeKexecCmdline(profile(), pmem, running);
  assert.equal(cmdline, 'root=/dev/vda ro memmap=64M$0x1000000 quiet memmap=256M!1G');
});

test('re-composing from a cmdline we composed is a fixed point', () => {
  const once = composeKexecCmdline(profile(), pkernfs, 'root=/dev/sda1 quiet').cmdline;
  const twice = composeKexecCmdline(profile(), pkernfs, once).cmdline;
  assert.equal(twice, once);
  assert.equal(once.split(' ').filter((w) => w.startsWith('pkernfs=')).length, 1);
});

test('init arguments after -- stay after the kernel params', () => {
  const { cmdline } = composeKexecCmdline(profile(), pmem, 'console=ttyS0 rdinit=/init -- --flag x');
  assert.equal(cmdline, 'console=ttyS0 rdinit=/init memmap=256M!1G -- --flag x');
});

test('append and remove from the profile', () => {
  const p = profile('  cmdline:\n    append: [mitigations=off, quiet]\n    remove: [splash]\n');
  const { cmdline } = composeKexecCmdline(p, pmem, 'root=/dev/vda quiet splash');
  assert.equal(cmdline, 'root=/dev/vda quiet mitigations=off memmap=256M!1G');
});

test('replace policy starts from the given value', () => {
  const p = profile('  cmdline:\n    policy: replace\n    value: "root=/dev/vdb console=ttyS0"\n');
  assert.equal(
    composeKexecCmdline(p, luo, 'root=/dev/vda quiet').cmdline,
    'root=/dev/vdb console=ttyS0 kho=on liveupdate=on kho_scratch=256M',
  );
});

test('quoted values stay one word', () => {
  assert.deepEqual(splitCmdline('a="b c" d'), ['a="b c"', 'd']);
});

test('missing boot params ignore init arguments', () => {
  assert.deepEqual(missingBootParams(pmem, 'root=/dev/vda -- memmap=256M!1G'), ['memmap=256M!1G']);
  assert.deepEqual(missingBootParams(pmem, 'root=/dev/vda memmap=256M!1G'), []);
});

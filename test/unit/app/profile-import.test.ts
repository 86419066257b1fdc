// Pure: the profile `profile import --libvirt` writes, from facts (the lab host's, shipped in
// profiles/facts/lab.json, with a libvirt section as Debian 12's libvirt reports one domain).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importedProfile } from '../../../src/app/profile-import.js';
import { parseProfile } from '../../../src/profile/load.js';
import type { HostFacts } from '../../../src/facts/types.js';
import { ROOT } from '../../helpers/paths.js';
import { oneDomain } from '../../helpers/libvirt-facts.js';

const lab = JSON.parse(readFileSync(join(ROOT, 'profiles/facts/lab.json'), 'utf8')) as HostFacts;
const MiB = 2 ** 20;

const withDomain = (f: HostFacts, memoryMiB: number): HostFacts => ({
  ...f,
  libvirt: oneDomain({ name: 'web1', memoryMiB, autostart: true }),
});

const persistence = (text: string): unknown => parseProfile('(imported)', text).value?.persistence;

test("the host's own legacy pmem carve-out is reused when it holds the save images: no new boot needed", () => {
  const text = importedProfile(withDomain(lab, 64), 'qemu:///system', '2026-12-07T00:00:00.000Z');
  assert.match(text, /on the carve-out this host has \(pmem0\)/);
  assert.deepEqual((({ size, offset }) => ({ size, offset }))(persistence(text) as { size: number; offset: number }), {
    size: 256 * MiB,
    offset: 1024 * MiB,
  });
});

test('a carve-out too small for them (or none) gives a new one sized from the RAM, placed by the planner', () => {
  for (const [f, ram] of [
    [withDomain(lab, 512), 512 * MiB],
    [withDomain({ ...lab, pmem: [] }, 64), 64 * MiB],
  ] as const) {
    const text = importedProfile(f, 'qemu:///system', '2026-12-07T00:00:00.000Z');
    assert.match(text, /^ {2}offset: auto$/m);
    const p = persistence(text) as { size: number };
    assert.ok(p.size >= ram + 64 * MiB && p.size % 2 ** 30 === 0, `${p.size} holds ${ram} in whole GiB`);
  }
});

test("the running kernel's initramfs, when the host has one, goes with its kernel", () => {
  const f = withDomain(lab, 64);
  const with_ = parseProfile('(imported)', importedProfile(f, 'qemu:///system', 'now', `/boot/initrd.img-${lab.kernelRelease}`)).value;
  assert.deepEqual(with_?.kexec, {
    ...with_?.kexec,
    kernel: `/boot/vmlinuz-${lab.kernelRelease}`,
    initrd: `/boot/initrd.img-${lab.kernelRelease}`,
  });
  const without = parseProfile('(imported)', importedProfile(f, 'qemu:///system', 'now')).value;
  assert.equal(without?.kexec.initrd, undefined);
});

// Pure logic: carve-out accounting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PKERNFS, pkernfsFileBlocks, pkernfsLayout, pmemCapacity } from '../../../src/profile/layout.js';
import { parseProfile } from '../../../src/profile/load.js';
import type { PkernfsPersistence } from '../../../src/profile/types.js';

const MiB = 2 ** 20;

test('pkernfs limits derived from the RFC layout', () => {
  assert.equal(PKERNFS.maxInodes, 7281); // 2 MiB / 288-byte inodes
  assert.equal(PKERNFS.maxFileSize, 512 * 2 ** 30); // 262144 block numbers x 2 MiB
  assert.equal(PKERNFS.maxNameBytes, 31);
  assert.equal(pkernfsFileBlocks(100 * MiB), 51); // mappings block + 50 data blocks
  assert.equal(pkernfsFileBlocks(2 * MiB), 2);
  assert.equal(pkernfsFileBlocks(3 * MiB), 3);
});

test('the seed recipe: 1G holds guest-ram 100M and dom-0 2M with room to spare', () => {
  const r = parseProfile(
    'p.yaml',
    `version: 1
host: {name: h}
persistence: {backend: pkernfs, size: 1G, offset: 1G}
kexec: {kernel: /boot/k}
vms: [{name: g, memory: 100M, ramFile: guest-ram, vfio: [{host: "0000:00:03.0"}]}]
iommu: {api: vfio-container}
`,
  );
  assert.ok(r.value, JSON.stringify(r.errors));
  const l = pkernfsLayout(r.value, r.value.persistence as PkernfsPersistence);
  assert.equal(l.used, (3 + 51 + 2) * 2 * MiB);
  assert.equal(l.capacity, 512 * 2 * MiB);
  assert.deepEqual(l.problems, []);
});

test('pkernfs: one block short is refused, exactly full is accepted', () => {
  // 8M = 4 blocks: 3 reserved + 1 mappings block leaves 0 data blocks
  const text = (size: string, mem: string): string => `version: 1
host: {name: h}
persistence: {backend: pkernfs, size: ${size}, offset: 1G}
kexec: {kernel: /boot/k}
vms: [{name: g, memory: ${mem}}]
`;
  assert.ok(parseProfile('p.yaml', text('10M', '2M')).value, 'exactly 5 blocks needed and present');
  const r = parseProfile('p.yaml', text('10M', '4M'));
  assert.match(r.errors[0]?.message ?? '', /need 6 blocks .* has 5/);
});

test('pmem capacity stays under what the lab measured (256M -> 218.6 MiB available)', () => {
  const measured = 229203968;
  assert.ok(pmemCapacity(256 * MiB) <= measured);
  assert.ok(pmemCapacity(256 * MiB) > measured * 0.95, 'and is not wastefully pessimistic');
});

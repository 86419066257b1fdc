// factsDrift: pure, on the committed lab facts (a real capture) and copies of it changed by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { factsDrift } from '../../../src/facts/drift.js';
import type { HostFacts } from '../../../src/facts/types.js';
import { factsFile } from '../../helpers/derive-facts.js';

const lab = (): HostFacts => JSON.parse(readFileSync(factsFile('lab'), 'utf8')) as HostFacts;

test('the same facts read later (only the collection time differs): no drift', () => {
  assert.deepEqual(factsDrift(lab(), { ...lab(), collectedAt: '2030-01-01T00:00:00.000Z' }), []);
});

test('a mount that appeared, a kernel file that changed and a QEMU package upgraded are each named', () => {
  const was = lab();
  const now = lab();
  now.mounts = [...now.mounts, { source: '/dev/pmem0', target: '/mnt/other', fstype: 'ext4', options: ['rw', 'dax'] }];
  const kernel = Object.keys(now.files)[0]!;
  now.files = { ...now.files, [kernel]: 1 };
  now.qemu = now.qemu.map((q) => ({ ...q, version: '99.0.0' }));
  now.kexecLoaded = !was.kexecLoaded;
  const d = factsDrift(was, now);
  assert.deepEqual(d.map((l) => l.split(':')[0]).sort(), ['files', 'kexecLoaded', 'mounts', 'qemu']);
  assert.ok(d.includes('mounts: /mnt/other mounted'), d.join('\n'));
  assert.ok(d.some((l) => l.startsWith(`files: ${kernel} `) && l.endsWith('-> 1 bytes')), d.join('\n'));
  assert.ok(d.includes(`kexecLoaded: ${was.kexecLoaded} -> ${now.kexecLoaded}`));
});

test('a mount gone and one remounted with other options', () => {
  const was = lab();
  assert.ok(was.mounts.length >= 2);
  const now = { ...lab(), mounts: lab().mounts.slice(1).map((m, i) => (i === 0 ? { ...m, options: [...m.options, 'ro'] } : m)) };
  assert.deepEqual(factsDrift(was, now), [`mounts: ${was.mounts[0]!.target} unmounted, ${was.mounts[1]!.target} remounted`]);
});

test('mounts the plan does not depend on are left out of the comparison', () => {
  const was = lab();
  const now = { ...lab(), mounts: [...lab().mounts, { source: 'tmpfs', target: '/media/usb', fstype: 'vfat', options: ['rw'] }] };
  assert.deepEqual(factsDrift(was, now, (m) => m.target !== '/media/usb'), []);
  assert.deepEqual(factsDrift(was, now), ['mounts: /media/usb mounted']);
});

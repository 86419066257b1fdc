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

test("what the profile's folders hold is not drift: liveupdate itself writes there between the plan and the agent's look (the mount point is checked again before the mount)", () => {
  const before: HostFacts = { ...lab(), pathHolds: { '/var/lib/liveupdate': 'missing', '/mnt/pmem': 'empty' } };
  assert.deepEqual(factsDrift(before, { ...before, pathHolds: { '/var/lib/liveupdate': 'files', '/mnt/pmem': 'empty' } }), []);
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
  assert.ok(
    d.some((l) => l.startsWith(`files: ${kernel} `) && l.endsWith('-> 1 bytes')),
    d.join('\n'),
  );
  assert.ok(d.includes(`kexecLoaded: ${was.kexecLoaded} -> ${now.kexecLoaded}`));
});

test('a mount gone and one remounted with other options', () => {
  const was = lab();
  assert.ok(was.mounts.length >= 2);
  const now = {
    ...lab(),
    mounts: lab()
      .mounts.slice(1)
      .map((m, i) => (i === 0 ? { ...m, options: [...m.options, 'ro'] } : m)),
  };
  assert.deepEqual(factsDrift(was, now), [`mounts: ${was.mounts[0]!.target} unmounted, ${was.mounts[1]!.target} remounted`]);
});

test('mounts the plan does not depend on are left out of the comparison', () => {
  const was = lab();
  const now = { ...lab(), mounts: [...lab().mounts, { source: 'tmpfs', target: '/media/usb', fstype: 'vfat', options: ['rw'] }] };
  assert.deepEqual(
    factsDrift(was, now, (m) => m.target !== '/media/usb'),
    [],
  );
  assert.deepEqual(factsDrift(was, now), ['mounts: /media/usb mounted']);
});

test("the profile's VMs: one started, one stopped, one restarted (another pid, another QEMU) are each named", () => {
  const vm = (name: string, pid: number, version = '7.2.22') => ({
    name,
    pid,
    exe: '/usr/bin/qemu-system-x86_64',
    version,
    machine: 'pc-i440fx-7.2',
  });
  const was = { ...lab(), vms: [vm('a', 10), vm('b', 11)] };
  const now = { ...lab(), vms: [vm('b', 21, '10.0.2'), vm('c', 22)] };
  assert.deepEqual(factsDrift(was, now), [
    'vms: c started (pid 22, QEMU 7.2.22 on pc-i440fx-7.2), a stopped, b now pid 21, QEMU 10.0.2 on pc-i440fx-7.2 (was pid 11, QEMU 7.2.22 on pc-i440fx-7.2)',
  ]);
  assert.deepEqual(factsDrift({ ...lab(), vms: [] }, lab()), ['vms: looked for in one probe only']);
});

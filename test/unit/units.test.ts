// Pure logic: sizes and durations as operators write them, read as QEMU, the kernel and systemd read them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSize } from '../../src/units.js';
import { parseProfile } from '../../src/profile/load.js';

test('sizes: binary units in either case, GiB spellings, a bare number of bytes; nothing else', () => {
  assert.equal(parseSize('4g'), 4 * 2 ** 30);
  assert.equal(parseSize('4G'), 4 * 2 ** 30);
  assert.equal(parseSize('2GiB'), 2 * 2 ** 30);
  assert.equal(parseSize('512MiB'), 512 * 2 ** 20);
  assert.equal(parseSize('64k'), 64 * 1024);
  assert.equal(parseSize('4096'), 4096);
  for (const bad of ['4GB', '4 G', '4Gi', 'G', '-4G', '4.5G', '4gib']) assert.throws(() => parseSize(bad), /not a size/, bad);
});

test('durations: ms, s, m, h; a bare number is seconds, as systemd reads one', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration(300), 300_000);
  assert.equal(parseDuration('300'), 300_000);
  for (const bad of ['1d', '5 m', 'soon', '1e3']) assert.throws(() => parseDuration(bad), /not a duration/, bad);
});

test('a profile takes them as written: memory 4g, a carve-out of 2GiB, bootTimeout 300, a migration timeout of 1h', () => {
  const r = parseProfile(
    'p.yaml',
    'version: 1\nhost: {name: h}\npersistence: {backend: pmem, size: 8GiB, offset: 4g}\nkexec: {kernel: /boot/vmlinuz, bootTimeout: 300}\nmigration: {timeout: 1h}\nvms: [{name: a, memory: 4g}]\n',
  );
  assert.ok(r.value, JSON.stringify(r.errors));
  assert.equal(r.value.persistence.backend === 'pmem' && r.value.persistence.size, 8 * 2 ** 30);
  assert.equal(r.value.vms[0]!.memory, 4 * 2 ** 30);
  assert.equal(r.value.kexec.bootTimeoutMs, 300_000);
  assert.equal(r.value.migration.timeoutMs, 3_600_000);
  const far = parseProfile(
    'p.yaml',
    'version: 1\nhost: {name: h}\npersistence: {backend: pmem, size: 8G}\nkexec: {kernel: /k, bootTimeout: 100000000}\nvms: [{name: a, memory: 1G}]\n',
  );
  assert.match(JSON.stringify(far.errors), /kexec\.bootTimeout.*a bare number is seconds/);
});

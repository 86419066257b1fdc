// The modes and checks of the files liveupdate keeps (src/exec/files.ts), on this machine's real
// file system in a temporary folder; the journal, the lock and the fleet journal all open through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, closeSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPrivate } from '../../../src/exec/files.js';
import { Journal } from '../../../src/exec/journal.js';
import { FleetJournal } from '../../../src/fleet/journal.js';
import { acquireLock } from '../../../src/exec/lock.js';
import { tempDir } from '../../helpers/temp.js';

const mode = (p: string): number => statSync(p).mode & 0o777;

test('under umask 000, journals, locks and fleet journals are 0600 in 0700 folders', () => {
  const old = process.umask(0);
  try {
    const dir = tempDir('/tmp/lu-files-');
    const j = Journal.open(join(dir, 'new/deeper/h1.journal'));
    j.begin({ runId: 'r1', at: 1, host: 'h1', profile: 'p.yaml', backend: 'pmem', bootId: 'b', vms: [] });
    j.close();
    assert.equal(mode(join(dir, 'new/deeper/h1.journal')), 0o600);
    assert.equal(mode(join(dir, 'new/deeper')), 0o700);
    assert.equal(mode(join(dir, 'new')), 0o700);
    const lock = acquireLock(join(dir, 'locks/h1.lock'), { runId: 'r1', who: 'me', bootId: 'b', command: 'run' });
    assert.equal(mode(join(dir, 'locks/h1.lock')), 0o600);
    lock.release();
    FleetJournal.create(join(dir, 'fleet'), 'run1').close();
    assert.equal(mode(join(dir, 'fleet/run1/fleet.journal')), 0o600);
    assert.equal(mode(join(dir, 'fleet/run1')), 0o700);
  } finally {
    process.umask(old);
  }
});

test('a journal path that is a symlink is refused, and the file it points at is untouched', () => {
  const dir = tempDir('/tmp/lu-files-');
  writeFileSync(join(dir, 'target'), 'precious\n');
  symlinkSync(join(dir, 'target'), join(dir, 'h1.journal'));
  assert.throws(() => openPrivate(join(dir, 'h1.journal')), /h1\.journal is a symlink: liveupdate writes its records only to a real file/);
  assert.equal(statSync(join(dir, 'target')).size, 'precious\n'.length);
});

test('an existing journal left world-readable is set to 0600; one another user owns is refused', () => {
  const dir = tempDir('/tmp/lu-files-');
  const f = join(dir, 'h1.journal');
  writeFileSync(f, '');
  chmodSync(f, 0o666);
  closeSync(openPrivate(f));
  assert.equal(mode(f), 0o600);
  if (process.geteuid?.() !== 0) return; // giving a file to another user needs root (CI and the lab run as root)
  chownSync(f, 65534, 65534);
  assert.throws(() => openPrivate(f), /belongs to uid 65534, not to this user \(0\)/);
});

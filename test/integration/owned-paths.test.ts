// The paths liveupdate owns, on this machine (LocalHost, real sh, mkdir, stat, mount): each VM's own
// folder, made by the plan's vm-folders step (missing folders made 0700; one that is a symlink,
// another user's, or writable by group or others refused before any QEMU binds a socket in it), and
// the carve-out's mount point, judged again before the mount (a folder with files is never mounted over).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { LocalHost } from '../../src/host/local.js';
import type { RunEnv } from '../../src/exec/runners/env.js';
import { runStep } from '../../src/exec/runners/step.js';
import { QmpPool } from '../../src/qemu/pool.js';
import type { Step } from '../../src/plan/types.js';
import { tempDir } from '../helpers/temp.js';

const step = (paths: string[]): Step => ({
  id: 'prepare/vm-folders',
  phase: 'prepare',
  description: 'vm folders',
  blackout: false,
  idempotent: true,
  check: null,
  kind: 'private-dirs',
  paths,
});

function env(): RunEnv {
  const host = new LocalHost();
  return { host, qmp: new QmpPool(host), outcomes: new Map(), vars: {} };
}

test('missing folders are made, 0700; existing ones of this user that others cannot write in are kept as they are', async () => {
  const d = tempDir('/var/tmp/lu-vm-folders-');
  try {
    const root = join(d, 'run');
    const paths = [root, join(root, 'vms'), join(root, 'vms', 'web1')];
    await runStep(step(paths), env());
    for (const p of paths) assert.equal(lstatSync(p).mode & 0o7777, 0o700, p);
    chmodSync(paths[2]!, 0o755);
    await runStep(step(paths), env());
    assert.equal(lstatSync(paths[2]!).mode & 0o7777, 0o755, 'a folder readable by others is left as it is');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a folder that is a symlink, another user’s, or writable by group or others is refused, naming it', async () => {
  const d = tempDir('/var/tmp/lu-vm-folders-');
  try {
    const elsewhere = join(d, 'elsewhere');
    mkdirSync(elsewhere, { mode: 0o700 });
    const linked = join(d, 'linked');
    symlinkSync(elsewhere, linked);
    await assert.rejects(runStep(step([linked]), env()), new RegExp(`${linked} is a symlink`));

    const theirs = join(d, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    await assert.rejects(runStep(step([theirs, join(theirs, 'vms')]), env()), new RegExp(`${theirs} belongs to uid 65534`));

    for (const mode of [0o770, 0o777, 0o1777]) {
      const open = join(d, `open-${mode.toString(8)}`);
      mkdirSync(open);
      chmodSync(open, mode);
      await assert.rejects(runStep(step([open]), env()), new RegExp(`${open} is writable by group or others`));
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the mount step mounts on an empty folder, and refuses a folder that has files in it now, mounting nothing', async () => {
  const d = tempDir('/var/tmp/lu-mount-point-');
  const mounted = (t: string): boolean =>
    readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1] === t);
  const mount = (target: string): Step => ({
    id: 'prepare/mount-dax',
    phase: 'prepare',
    description: 'mount',
    blackout: false,
    idempotent: false,
    check: null,
    kind: 'mount',
    argv: ['mount', '-t', 'tmpfs', '-o', 'size=1m', 'lu-test', target],
    source: 'lu-test',
    target,
    fstype: 'tmpfs',
    options: [],
  });
  const empty = join(d, 'empty');
  const full = join(d, 'full');
  mkdirSync(empty);
  mkdirSync(full);
  writeFileSync(join(full, 'authorized_keys'), 'ssh-ed25519 AAAA');
  try {
    await runStep(mount(empty), env());
    assert.ok(mounted(empty), 'mounted on the empty folder');
    await assert.rejects(runStep(mount(full), env()), new RegExp(`${full} has files in it now: .* nothing was mounted`));
    assert.ok(!mounted(full), 'nothing mounted over the folder with files');
    await assert.rejects(runStep(mount(join(d, 'full', 'authorized_keys')), env()), /is not a folder: nothing was mounted/);
  } finally {
    spawnSync('umount', [empty]);
    rmSync(d, { recursive: true, force: true });
  }
});

// One failed or interrupted run never breaks the next: a lab host whose owner is SIGKILLed does not
// outlive it, and an image build SIGKILLed during debootstrap leaves nothing the next build trips on.
// Everything is real: the lab host is QEMU booting the lab image, the builder is lab/image/build.sh
// running debootstrap (its packages from the lab's own debootstrap cache, so nothing is downloaded twice).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bootLab, LAB_CACHE, LAB_STORE, PACKAGE_ROOT } from '../../src/lab/lab.js';
import { processStart } from '../../src/lab/leases.js';
import { requireLabArtefacts } from '../helpers/lab.js';
import { tempDir } from '../helpers/temp.js';

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

const vms = join(LAB_CACHE, 'vms');
const folders = (prefix: string): string[] => (existsSync(vms) ? readdirSync(vms).filter((f) => f.startsWith(`${prefix}-`)) : []);

test(
  'a lab host whose owner is SIGKILLed dies with it; the next boot of that lab starts cleanly and sweeps the leftovers',
  { timeout: 600_000 },
  async () => {
    requireLabArtefacts();
    const name = `leak${process.pid}`;
    const lab = join(PACKAGE_ROOT, 'dist/src/lab/lab.js');
    const owner = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { bootLab } = await import(${JSON.stringify(lab)}); await bootLab(${JSON.stringify(name)}); setInterval(() => {}, 1000);`,
      ],
      { stdio: 'ignore' },
    );
    try {
      // killed while its lab host boots: the moment a test timeout or a Ctrl-C of the runner would strike
      const first = await until('the owner starts QEMU', 120_000, () => {
        for (const f of folders(name)) {
          try {
            const o = JSON.parse(readFileSync(join(vms, f, 'owner.json'), 'utf8')) as { qemuPid: number; qemuStart: string };
            if (o.qemuPid) return { folder: f, ...o };
          } catch {
            /* not written yet */
          }
        }
        return undefined;
      });
      assert.equal(processStart(first.qemuPid), first.qemuStart, 'its QEMU runs');
      owner.kill('SIGKILL');
      await until('the leaked QEMU to die', 30_000, () => (processStart(first.qemuPid) === first.qemuStart ? undefined : true));

      const again = await bootLab(name);
      try {
        assert.deepEqual(folders(name), [again.dir.split('/').pop()], "the first run's folder was swept");
        assert.equal(again.proc.exitCode, null, 'the new lab host runs');
      } finally {
        await again.stop();
      }
    } finally {
      owner.kill('SIGKILL');
    }
  },
);

/** Mount points below dir, as findmnt lists them. */
function mountsUnder(dir: string): string[] {
  const out = spawnSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((m) => m.startsWith(`${dir}/`));
}

test(
  'an image build SIGKILLed during debootstrap: the next build unmounts what it left and succeeds, nothing stays mounted',
  { timeout: 1_200_000 },
  async () => {
    requireLabArtefacts();
    const cache = tempDir('/var/tmp/lu-labbuild-');
    const script = join(PACKAGE_ROOT, 'lab/image/build.sh');
    // `build.sh rootfs` stops once the Debian root file system is there; the packages come from the
    // lab's own debootstrap cache, filled when the lab image was built
    const env = { ...process.env, LAB_CACHE: cache, DEBOOTSTRAP_CACHE: join(LAB_STORE, 'debootstrap-debs') };
    try {
      const builder = spawn('bash', [script, 'rootfs'], { env, detached: true, stdio: 'ignore' });
      const exited = new Promise((r) => builder.once('exit', r));
      await until('debootstrap mounts proc in the rootfs', 600_000, () =>
        mountsUnder(cache).includes(`${cache}/rootfs/proc`) ? true : undefined,
      );
      // the whole process group, as a closed terminal or a CI timeout would: no trap runs
      process.kill(-builder.pid!, 'SIGKILL');
      await exited;
      await sleep(500);
      assert.ok(mountsUnder(cache).length > 0, "the SIGKILL left debootstrap's mounts behind (else this test proves nothing)");

      const next = spawnSync('bash', [script, 'rootfs'], { env, encoding: 'utf8', timeout: 900_000 });
      assert.equal(next.status, 0, next.stdout + next.stderr);
      assert.match(next.stdout, /unmounted \S+\/rootfs\/proc \(left mounted by an interrupted earlier build\)/);
      assert.deepEqual(mountsUnder(cache), [], 'nothing stays mounted');
      assert.ok(existsSync(join(cache, 'rootfs', '.complete')), 'the rootfs is complete');
      assert.ok(existsSync(join(cache, 'rootfs', 'usr', 'sbin', 'sshd')));
    } finally {
      for (const m of mountsUnder(cache).reverse()) spawnSync('umount', ['-l', m]);
      spawnSync('rm', ['-rf', '--one-file-system', cache]);
    }
  },
);

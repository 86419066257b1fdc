// The helper's uAPI numbers and struct layouts, proven at compile time by native/uapi-check.c:
// against this machine's headers (bookworm: VFIO only), against Debian sid's linux-libc-dev unpacked
// by native/fetch-uapi.sh (iommufd, VFIO cdev, LUO), and shown to fail when a value is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/paths.js';
import { tempDir } from '../../helpers/temp.js';

const NATIVE = join(ROOT, 'native');
const SID = join(ROOT, '.cache', 'uapi', 'usr', 'include');

function compile(dir: string, include?: string): { ok: boolean; out: string } {
  const exe = join(tempDir('/tmp/lu-uapi-bin-'), 'uapi-check');
  const inc = include ? ['-I', include, '-I', join(include, 'x86_64-linux-gnu')] : [];
  const r = spawnSync('cc', ['-std=c11', '-Wall', '-Wextra', '-Werror', ...inc, '-o', exe, join(dir, 'uapi-check.c')], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return { ok: false, out: r.stderr };
  return { ok: true, out: execFileSync(exe, { encoding: 'utf8' }) };
}

test("uAPI: the derived values hold, and VFIO matches this machine's headers", () => {
  const r = compile(NATIVE);
  assert.ok(r.ok, r.out);
  const checked = JSON.parse(r.out) as Record<string, boolean>;
  assert.equal(checked['derived'], true);
  assert.equal(checked['vfio'], true);
});

test('uAPI: iommufd, the VFIO cdev and LUO match Linux 7.x headers (Debian sid linux-libc-dev)', (t) => {
  if (!existsSync(join(SID, 'linux', 'liveupdate.h'))) {
    t.skip('no .cache/uapi: run native/fetch-uapi.sh (scripts/test does)');
    return;
  }
  const r = compile(NATIVE, SID);
  assert.ok(r.ok, r.out);
  assert.deepEqual(JSON.parse(r.out), { derived: true, vfio: true, vfioCdev: true, iommufd: true, liveupdate: true });
});

test('uAPI: a wrong ioctl number or a moved field does not compile', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      '#define LU_LIVEUPDATE_SESSION_FINISH _IO(LU_LIVEUPDATE_IOCTL_TYPE, 0x42)',
      '#define LU_LIVEUPDATE_SESSION_FINISH _IO(LU_LIVEUPDATE_IOCTL_TYPE, 0x43)',
      /LU_LIVEUPDATE_SESSION_FINISH == 0xba42/,
    ],
    [
      '#define LU_VFIO_CONTAINER_SET_PERSISTENT_PGTABLES _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 21)',
      '#define LU_VFIO_CONTAINER_SET_PERSISTENT_PGTABLES _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 22)',
      /SET_PERSISTENT_PGTABLES == 0x3b79/,
    ],
    [
      '\tuint64_t vaddr;\n\tuint64_t iova;',
      '\tuint64_t iova;\n\tuint64_t vaddr;',
      /lu_vfio_dma_map\.vaddr is laid out as vfio_iommu_type1_dma_map\.vaddr/,
    ],
  ];
  for (const [from, to, message] of cases) {
    const dir = tempDir('/tmp/lu-uapi-');
    copyFileSync(join(NATIVE, 'uapi-check.c'), join(dir, 'uapi-check.c'));
    const header = readFileSync(join(NATIVE, 'uapi.h'), 'utf8');
    assert.ok(header.includes(from), `uapi.h still has: ${from}`);
    writeFileSync(join(dir, 'uapi.h'), header.replace(from, to));
    const r = compile(dir);
    assert.equal(r.ok, false, `${to} compiled`);
    assert.match(r.out, message);
  }
});

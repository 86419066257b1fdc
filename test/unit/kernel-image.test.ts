// Pure logic: a bzImage's build string read as the boot proof reads it, and a running kernel judged against it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { otherKernel, parseImageIdentity } from '../../src/kernel-image.js';

test("a bzImage's build string: release and version, as uname -r and uname -v give them", () => {
  assert.deepEqual(
    parseImageIdentity('6.1.0-28-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)\n'),
    { release: '6.1.0-28-amd64', version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)' },
  );
  assert.deepEqual(parseImageIdentity('7.2.0-rc3 (root@lab) #2 SMP Mon Dec  7 09:15:00 UTC 2026'), {
    release: '7.2.0-rc3',
    version: '#2 SMP Mon Dec  7 09:15:00 UTC 2026',
  });
  for (const notOne of ['', 'garbage', '6.1.0 #1 SMP', 'HdrS']) assert.equal(parseImageIdentity(notOne), undefined, JSON.stringify(notOne));
});

test('the running kernel is the image only when both its release and its build are', () => {
  const image = { release: '6.1.0-28-amd64', version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)' };
  assert.equal(otherKernel(image, { ...image }), undefined);
  assert.match(
    otherKernel(image, { ...image, release: '6.1.0-27-amd64' })!,
    /it runs 6\.1\.0-27-amd64, the kernel loaded is 6\.1\.0-28-amd64/,
  );
  assert.match(
    otherKernel(image, { ...image, version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)' })!,
    /built '#1 SMP PREEMPT_DYNAMIC Debian 6\.1\.115-1/,
  );
});

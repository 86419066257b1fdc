// `liveupdate demo` refuses clearly, before building or booting anything, on a machine that cannot run it.
// Real: the CLI in-process, a real listening socket on the port, this machine's /proc. The uid and
// memory figures are injected (test doubles) where the test machine cannot be made non-root or small.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliInProcess } from '../helpers/run-cli.js';
import { demoPreflight, runningLabs } from '../../src/lab/preflight.js';
import { freePort, LAB_CACHE } from '../../src/lab/lab.js';
import { GiB } from '../../src/units.js';

const cli = cliInProcess;

test('demo: the port is taken -> names who holds it, exit 1, no lab started', async () => {
  const port = await freePort();
  const server = createServer().listen(port, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const r = await cli('demo', '--port', String(port));
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use by node \\(pid ${process.pid}\\)`));
    assert.match(r.err, /choose another with --port/);
    assert.match(r.err, /nothing was changed/);
    assert.deepEqual(runningLabs('demo'), []);
    const j = await cli('demo', '--port', String(port), '--json');
    const doc = JSON.parse(j.out) as { code: string; diagnostics: Array<{ message: string }> };
    assert.equal(doc.code, 'LAB_UNAVAILABLE');
    assert.equal(doc.diagnostics.length, 1);
  } finally {
    server.close();
  }
});

test('demo preflight: not root and too little memory -> both said, each with what to do', async () => {
  const problems = await demoPreflight({ port: await freePort(), uid: 1000, memAvailable: 1 * GiB });
  const text = problems.map((p) => `${p.what}; ${p.fix}`).join('\n');
  assert.match(text, /needs root.*run it as root/);
  assert.match(text, /too little free memory: 1\.0 GiB available, the lab host needs 2\.5 GiB; stop other VMs/);
  assert.deepEqual(await demoPreflight({ port: await freePort(), uid: 0, memAvailable: 8 * GiB }), [], 'this machine can run it');
});

test('demo: bad options are usage errors', async () => {
  assert.equal((await cli('demo', '--backend', 'zfs')).code, 64);
  assert.equal((await cli('demo', '--port', '70000')).code, 64);
  assert.equal((await cli('demo', '--count', '0')).code, 64);
});

test('a running demo lab counts only when it was booted from this lab cache (another checkout has its own)', async () => {
  // Real processes standing in for lab QEMUs: only their command lines matter to the check.
  const fake = (cache: string) =>
    spawn(
      process.execPath,
      ['-e', 'setTimeout(() => {}, 60000)', '--', '-name', 'lab-demo', '-drive', `file=${cache}/vms/demo-0000/disk.qcow2,if=virtio`],
      { stdio: 'ignore' },
    );
  const other = fake('/var/tmp/another-checkout/.cache/lab');
  const ours = fake(LAB_CACHE);
  try {
    await sleep(200);
    const labs = runningLabs('demo');
    assert.ok(labs.includes(ours.pid!), 'a lab of this cache is found');
    assert.ok(!labs.includes(other.pid!), 'a lab of another cache is not');
  } finally {
    other.kill();
    ours.kill();
  }
});

// `liveupdate demo` end to end: the real lab (image, TCG lab host, real kexec over SSH), driven by the
// CLI exactly as the README's first command runs it, checked from its --json result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/run-cli.js';
import { freePort } from '../../src/lab/lab.js';
import { runningLabs } from '../../src/lab/preflight.js';
import type { DemoResult } from '../../src/app/demo.js';

test(
  'liveupdate demo: a new boot, the guest counter continued, the blackout accounted for, the lab torn down',
  { timeout: 1_200_000 },
  async () => {
    const port = await freePort();
    const t0 = Date.now();
    const r = await runCli(['demo', '--json', '--port', String(port)]);
    assert.equal(r.code, 0, r.stderr + r.stdout.slice(-4000));
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; stage?: string; data?: DemoResult });
    assert.deepEqual(lines[0], { type: 'format', format: 'liveupdate-events', version: 1 });
    const stages = lines.filter((l) => l.type === 'stage-end').map((l) => l.stage);
    assert.equal(stages.length, 8, stages.join(', '));
    const d = lines.at(-1)!.data!;
    assert.equal(lines.at(-1)!.type, 'result');
    assert.equal(d.ok, true);
    assert.equal(d.newBoot, true);
    assert.notEqual(d.after.bootId, d.before.bootId);
    assert.match(d.before.kernel, /^6\.1\.0-.*-amd64$/);
    assert.equal(d.after.vmStatus, 'running');
    assert.ok(BigInt(d.after.counter) > BigInt(d.before.counter), `counter ${d.before.counter} -> ${d.after.counter}`);
    const b = d.blackout;
    assert.ok(b.windowMs > 0 && b.qemuSaveMs > 0 && b.kexecMs > 0 && b.bootToRestoreMs > 0 && b.qemuRestoreMs > 0 && b.orchestratorMs >= 0);
    assert.ok(Math.abs(b.windowMs - (b.qemuSaveMs + b.kexecToRestoreMs + b.qemuRestoreMs + b.orchestratorMs)) < 1);
    assert.ok(Math.abs(b.kexecToRestoreMs - (b.kexecMs + b.bootToRestoreMs)) < 1);
    assert.deepEqual(Object.keys(d.stagesMs).sort(), ['after', 'before', 'boot', 'count', 'image', 'prepare', 'run', 'teardown']);
    assert.equal(d.lab.kept, false);
    assert.deepEqual(runningLabs('demo'), [], 'torn down');
    console.log(`demo: ${((Date.now() - t0) / 1000).toFixed(0)} s in all; blackout ${b.windowMs} ms (kexec ${b.kexecMs} ms)`);
  },
);

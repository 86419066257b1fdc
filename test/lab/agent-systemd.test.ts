// The boot-time resume on a systemd host, for real: the lab image booted with systemd as PID 1, the
// agent install puts liveupdate-resume.service there and enables it, a real kexec, and after it the
// unit (not the control node, not the lab's own init) resumes the VM before ssh.service starts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SshHost, parseTarget } from '../../src/host/ssh.js';
import { ROOT } from '../helpers/paths.js';
import { requireLabArtefacts } from '../helpers/lab.js';
import { runCli } from '../helpers/run-cli.js';
import { bootLab, type LabHost } from '../../src/lab/lab.js';
import { counterOn } from '../../src/lab/counter.js';
import { mustRun } from '../helpers/remote.js';
import type { JournalRecord } from '../../src/exec/journal.js';

let lab: LabHost;
let ssh: SshHost;
const profile = join(ROOT, 'profiles/lab.yaml');

before(async () => {
  requireLabArtefacts();
  lab = await bootLab('systemd', { init: 'systemd' });
  ssh = new SshHost(parseTarget(lab.target), { identity: lab.identity, knownHosts: lab.knownHosts });
}, { timeout: 420_000 });

after(async () => {
  await ssh?.close();
  await lab?.stop();
});

const hostArgs = (): string[] => ['--host', lab.target, '--identity', lab.identity, '--known-hosts', lab.knownHosts, '--journal-dir', mkdtempSync('/var/tmp/lu-cn-')];
const remote = (argv: string[]): Promise<string> => mustRun(ssh, argv);

test('systemd host: the unit the agent install enabled resumes the VM after the kexec, ordered before ssh.service', { timeout: 1_500_000 }, async () => {
  assert.equal((await remote(['cat', '/proc/1/comm'])).trim(), 'systemd');
  const prep = await runCli(['prepare', '--profile', profile, '--agent', ...hostArgs()]);
  assert.equal(prep.code, 0, prep.stderr + prep.stdout);
  assert.equal((await remote(['systemctl', 'is-enabled', 'liveupdate-resume.service'])).trim(), 'enabled');
  await sleep(10_000);
  const beforeRun = await counterOn(ssh);
  const bootBefore = (await remote(['cat', '/proc/sys/kernel/random/boot_id'])).trim();

  // the control node follows across the kexec; the resume after it is the unit's
  const run = await runCli(['run', '--profile', profile, '--agent', ...hostArgs()]);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /run: done/);
  ssh.reset();
  assert.notEqual((await remote(['cat', '/proc/sys/kernel/random/boot_id'])).trim(), bootBefore);
  const c = await counterOn(ssh);
  assert.equal(c.status, 'running');
  assert.ok(c.value > beforeRun.value, `continued: ${beforeRun.value} before, ${c.value} after`);

  // journald has the unit's run, and it finished before sshd started
  const log = await remote(['journalctl', '-b', '-u', 'liveupdate-resume.service', '-o', 'cat', '--no-pager']);
  assert.match(log, /resuming its VMs on boot/);
  assert.match(log, /\] done/);
  const when = async (unit: string, prop: string): Promise<number> => Number((await remote(['systemctl', 'show', unit, '-P', prop])).trim());
  const resumeDone = await when('liveupdate-resume.service', 'ExecMainExitTimestampMonotonic');
  const sshStarted = await when('ssh.service', 'ExecMainStartTimestampMonotonic');
  assert.ok(resumeDone > 0 && resumeDone < sshStarted, `resume ended at ${resumeDone} us, sshd started at ${sshStarted} us (monotonic)`);
  const recs = (await remote(['cat', '/var/lib/liveupdate/lab.journal'])).trim().split('\n').map((l) => JSON.parse(l) as JournalRecord);
  assert.equal(recs.at(-1)?.t, 'done');
});

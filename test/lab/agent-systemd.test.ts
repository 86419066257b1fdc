// The boot-time resume on a systemd host, for real: the lab image booted with systemd as PID 1, a
// control node's `host install` puts the agent and liveupdate-resume.service there and enables it;
// then `liveupdate prepare` and `run` are started on the host itself, the run left alone: no control
// node at all. A real kexec, and after it the unit (not a control node, not the lab's own init) resumes the VM
// before ssh.service starts. One kexec for both of issue 15's "run on the host itself" and "the systemd
// path for real": the lab stage pays for every kexec under TCG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from '../helpers/paths.js';
import { useLab, labHostFlags } from '../helpers/lab.js';
import { runCli } from '../helpers/run-cli.js';
import { counterOn } from '../../src/lab/counter.js';
import { bootIdOf, mustRun, waitNewBoot } from '../helpers/remote.js';
import type { JournalRecord } from '../../src/exec/journal.js';
import { tempDir } from '../helpers/temp.js';

const profile = join(ROOT, 'profiles/lab.yaml');

const fx = useLab('systemd', { init: 'systemd', timeoutMs: 420_000 });

const hostArgs = (): string[] => [...labHostFlags(fx), '--journal-dir', tempDir('/var/tmp/lu-cn-')];
const remote = (argv: string[]): Promise<string> => mustRun(fx.ssh, argv);

test(
  'systemd host, run started on the host itself and left alone: the unit the agent install enabled resumes the VM after the kexec, ordered before ssh.service',
  { timeout: 1_500_000 },
  async () => {
    assert.equal((await remote(['cat', '/proc/1/comm'])).trim(), 'systemd');
    // the control node sets the host up, and from then on the host is on its own
    const inst = await runCli(['host', 'install', ...hostArgs().slice(0, -2)]);
    assert.equal(inst.code, 0, inst.stderr + inst.stdout);
    assert.equal((await remote(['systemctl', 'is-enabled', 'liveupdate-resume.service'])).trim(), 'enabled');
    // the host's own liveupdate (the install put it there) with its own copy of the profile: prepare
    // in the foreground, then the run started detached and left alone
    const lu = '/var/lib/liveupdate/agent/liveupdate';
    await fx.ssh.put(readFileSync(profile), '/root/lab.yaml');
    // (a whole prepare, Node started twice, on an emulated host: bounded generously)
    await mustRun(fx.ssh, [lu, 'prepare', '--profile', '/root/lab.yaml', '--agent'], 600_000);
    await sleep(10_000);
    const beforeRun = await counterOn(fx.ssh);
    const bootBefore = await bootIdOf(fx.ssh);
    await remote(['sh', '-c', `cd / && setsid -f ${lu} run --profile /root/lab.yaml --agent --yes --force </dev/null >/root/run.log 2>&1`]);
    // from here on this process only waits, then looks; a run that ended on the old boot is a failure
    await waitNewBoot(fx.ssh, bootBefore, 900_000, async (answered) => {
      const log = answered ? await remote(['cat', '/root/run.log']).catch(() => '') : '';
      assert.doesNotMatch(log, /^error:/m, `the run on the host ended before its kexec: ${log}`);
    });
    const c = await counterOn(fx.ssh);
    assert.equal(c.status, 'running');
    assert.ok(c.value > beforeRun.value, `continued: ${beforeRun.value} before, ${c.value} after`);

    // journald has the unit's run, and it finished before sshd started
    const log = await remote(['journalctl', '-b', '-u', 'liveupdate-resume.service', '-o', 'cat', '--no-pager']);
    assert.match(log, /resuming its VMs on boot/);
    assert.match(log, /\] done/);
    const when = async (unit: string, prop: string): Promise<number> =>
      Number((await remote(['systemctl', 'show', unit, '-P', prop])).trim());
    const resumeDone = await when('liveupdate-resume.service', 'ExecMainExitTimestampMonotonic');
    const sshStarted = await when('ssh.service', 'ExecMainStartTimestampMonotonic');
    assert.ok(resumeDone > 0 && resumeDone < sshStarted, `resume ended at ${resumeDone} us, sshd started at ${sshStarted} us (monotonic)`);
    const recs = (await remote(['cat', '/var/lib/liveupdate/lab.journal']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JournalRecord);
    const last = recs.at(-1);
    assert.equal(last?.type === 'done' ? last.how : last?.type, 'resumed');
    assert.ok(recs.some((r) => r.type === 'step-end' && r.id === 'kexec/verify-boot'));
  },
);

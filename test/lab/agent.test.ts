// The on-host agent in the lab: a real kexec of Debian's kernel under TCG, OpenSSH, the agent's
// bundle copied by liveupdate onto a Debian 12 host, run there by the host's own Node (Debian's
// nodejs 18.20: no runtime copied; the LUO and pkernfs hosts get the copied runtime), and the lab
// init's boot-time resume. The control node here is the CLI as a child process, signalled for real
// (SIGTERM at kexec -e: it detaches, and from there the host has no control node, as if it had died:
// the host's side is the same; a control node cut off by the network, and none at all, are below and
// in agent-systemd.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from '../helpers/paths.js';
import { acrossUpdate, useLab, labHostFlags } from '../helpers/lab.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { counterOn } from '../../src/lab/counter.js';
import { mustRun } from '../helpers/remote.js';
import type { JournalRecord } from '../../src/exec/journal.js';
import { tempDir } from '../helpers/temp.js';

const profile = join(ROOT, 'profiles/lab.yaml');

const fx = useLab('agent');

/** A control node: the CLI with its own (empty) journal folder, so nothing it knows comes from an earlier one. */
const hostArgs = (): string[] => [...labHostFlags(fx), '--journal-dir', tempDir('/var/tmp/lu-cn-')];
const cli = (args: string[]): Promise<CliResult> => runCli([...args, ...hostArgs()]);
const remote = (argv: string[]): Promise<string> => mustRun(fx.ssh, argv);

/** `liveupdate ARGS --json` as a child; `at.step` starting (per its NDJSON) calls `at.then` once, with a way to signal it (SIGKILL unless named). */
function controlNode(
  args: string[],
  at?: { step: string; then: (kill: (signal?: NodeJS.Signals) => void) => void },
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args, ...hostArgs(), '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let fired = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (at && !fired && stdout.includes(`"type":"step-start","id":"${at.step}"`)) {
        fired = true;
        at.then((signal = 'SIGKILL') => child.kill(signal));
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

test(
  'the control node gets SIGTERM (as from a service manager) right at kexec -e: it detaches (exit 4) and the host resumes the VM by itself, before its sshd; status from a fresh control node shows the whole run',
  { timeout: 1_500_000 },
  async () => {
    assert.match(
      await remote(['sh', '-c', 'command -v node && node --version']),
      /^\/usr\/bin\/node\nv18\./,
      "Debian 12's own Node is on the host's PATH",
    );
    const prep = await cli(['prepare', '--profile', profile, '--agent']);
    assert.equal(prep.code, 0, prep.stderr + prep.stdout);
    await sleep(12_000);

    const u = await acrossUpdate(fx, async () => {
      const cn = await controlNode(['run', '--profile', profile, '--agent', '--yes', '--force'], {
        step: 'kexec/kexec-exec',
        then: (kill) => kill('SIGTERM'),
      });
      // SIGTERM, as Ctrl-C: the follower detaches and says how to follow again; the host goes on
      assert.equal(cn.code, 4, `the control node detached at kexec -e: ${cn.stderr}${cn.stdout.slice(-1000)}`);
      const last = JSON.parse(cn.stdout.trim().split('\n').at(-1)!) as { type: string; follow: string };
      assert.equal(last.type, 'detached');
      assert.match(last.follow, /^liveupdate status --follow --profile /);
    });
    const { bootAfter, counterBefore: beforeRun, counterAfter: c } = u;
    assert.equal(beforeRun.status, 'running');
    // sshd answers only once the lab init's boot-time resume is over: the VM is running already
    assert.equal(c.status, 'running', 'resumed with no control node');
    assert.ok(c.value > beforeRun.value, `continued: ${beforeRun.value} before, ${c.value} after`);
    const serial = readFileSync(fx.lab.serialLog, 'utf8');
    assert.match(serial, /LAB-MARK agent-boot-done rc=0/);

    // a fresh control node, which never saw this run, reads it from the host
    const st = await cli(['status', '--profile', profile, '--json']);
    assert.equal(st.code, 0, st.stderr);
    const doc = JSON.parse(st.stdout) as {
      finished: boolean;
      done: string[];
      failed: Record<string, unknown>;
      blackouts: Array<{ vm: string; ms: number }>;
      journal: string;
    };
    assert.equal(doc.finished, true, st.stdout);
    assert.deepEqual(doc.failed, {});
    for (const id of ['suspend/save/counter', 'kexec/kexec-exec', 'kexec/verify-boot', 'resume/load/counter', 'resume/cont/counter'])
      assert.ok(doc.done.includes(id), `${id} done`);
    assert.equal(doc.blackouts[0]?.vm, 'counter');
    assert.match(doc.journal, /^root@127\.0\.0\.1:\d+:\/var\/lib\/liveupdate\/lab\.journal$/);

    // the VM ran again before the new boot's sshd started (both clocks are the lab host's)
    const recs = (await remote(['cat', '/var/lib/liveupdate/lab.journal']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JournalRecord);
    const cont = recs.find((r) => r.type === 'step-end' && r.id === 'resume/cont/counter');
    const sshdAt = [...serial.matchAll(/LAB-MARK sshd-started epoch-ms=(\d+)/g)].map((m) => Number(m[1])).pop()!;
    assert.ok(cont && cont.at < sshdAt, `cont at ${cont?.at}, sshd at ${sshdAt}`);
    const verify = recs.find((r) => r.type === 'step-end' && r.id === 'kexec/verify-boot');
    assert.ok(verify?.type === 'step-end' && verify.outcome?.['bootId'] === bootAfter);
  },
);

test(
  'the network between control node and host is cut for the whole window: the host resumes the VM by itself; the control node, still following, sees the run finish',
  { timeout: 1_500_000 },
  async () => {
    const before = await counterOn(fx.ssh);
    const from = fx.lab.serialText().length;
    let restored: Promise<void> | undefined;
    // the cable is pulled as the VM's blackout starts, and plugged back only once the new boot has
    // resumed the VM (the lab init's mark on the console); the control node keeps following all along
    const cn = await controlNode(['run', '--profile', profile, '--agent', '--yes', '--force'], {
      step: 'suspend/stop/counter',
      then: () => {
        restored = (async () => {
          await fx.lab.setLink(false);
          await fx.lab.waitSerial(/LAB-MARK agent-boot-done rc=0/, 900_000, from);
          await sleep(2000);
          await fx.lab.setLink(true);
        })();
      },
    });
    await restored;
    assert.equal(cn.code, 0, cn.stderr + cn.stdout.slice(-3000));
    assert.match(cn.stdout, /"type":"result".*"ok":true/);
    fx.ssh.reset();
    const c = await counterOn(fx.ssh);
    assert.equal(c.status, 'running');
    assert.ok(c.value > before.value, `continued: ${before.value} before, ${c.value} after`);
  },
);

test(
  'two runs at once on one host: the second is refused and told who holds the host; the first finishes',
  { timeout: 900_000 },
  async () => {
    const before = await counterOn(fx.ssh);
    const first = controlNode(['run', '--profile', profile, '--agent', '--vmm-only', '--force']);
    // the first agent holds the lock from its start to its end: once it is there, the agent is stopped
    // (SIGSTOP) so that the second run comes while it holds the host, however fast or slow this machine is
    let holder = '';
    for (let i = 0; i < 600 && !holder; i++) {
      holder = (
        await fx.ssh.exec([
          'sh',
          '-c',
          'p=$(sed -n \'s/.*"pid":\\([0-9]*\\).*/\\1/p\' /var/lib/liveupdate/lab.journal.lock 2>/dev/null) && [ -n "$p" ] && kill -STOP "$p" && echo "$p"',
        ])
      ).stdout.trim();
      if (!holder) await sleep(100);
    }
    assert.match(holder, /^\d+$/, 'the first agent took the lock');
    let second;
    try {
      second = await cli(['run', '--profile', profile, '--agent', '--vmm-only', '--force']);
    } finally {
      await remote(['kill', '-CONT', holder]);
    }
    assert.equal(second.code, 1, second.stdout + second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`another live update holds this host: run [0-9a-f-]+ \\(run\\) asked by \\S+@\\S+ at \\S+, pid ${holder}`),
    );
    const r = await first;
    assert.equal(r.code, 0, r.stderr + r.stdout.slice(-2000));
    const after = await counterOn(fx.ssh);
    assert.equal(after.status, 'running');
    assert.ok(after.value > before.value);
  },
);

test(
  "the agent ran on the host's own Node; host uninstall --purge leaves nothing of liveupdate there but the VM it runs",
  { timeout: 300_000 },
  async () => {
    // Debian 12's nodejs is on the host's PATH: the agent's wrapper runs it, and no runtime was copied
    assert.doesNotMatch(await remote(['ls', '/var/lib/liveupdate/agent']), /^node-/m);
    assert.match(
      await remote(['cat', '/var/lib/liveupdate/agent/liveupdate-agent']),
      /exec \/usr\/bin\/node \/var\/lib\/liveupdate\/agent\/liveupdate-agent-[0-9a-f]{16}\.cjs/,
    );
    assert.match(await remote(['/usr/bin/node', '--version']), /^v18\.(19|[2-9]\d)\./);
    const plain = await runCli(['host', 'uninstall', '--profile', profile, ...hostArgs().slice(0, -2)]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /removed .*\/var\/lib\/liveupdate\/agent/);
    assert.match(plain.stdout, /left on \S+: \/var\/lib\/liveupdate\/lab\.journal(, \S+)* \(the record of its runs: --purge removes it\)/);
    const purged = await runCli(['host', 'uninstall', '--purge', '--profile', profile, ...hostArgs().slice(0, -2)]);
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, /removed .*\/var\/lib\/liveupdate\/lab\.journal/);
    assert.match(purged.stdout, /nothing of liveupdate is left on /);
    // checked by listing: nothing named for liveupdate in the host's configuration, state or programs
    // (/run/liveupdate holds the running VM's sockets and pidfile: the VM's, which it keeps; the lab
    // image's own init, standing in for the host's init system, logs its boot-time resume to
    // /var/log/liveupdate-agent.log: the operator's file, as a systemd host's journald is)
    const left = await remote([
      'sh',
      '-c',
      "find /etc /var /usr /opt /root -xdev -name '*liveupdate*' ! -path /var/log/liveupdate-agent.log 2>/dev/null; true",
    ]);
    assert.equal(left, '', `left on the host:\n${left}`);
    assert.equal((await counterOn(fx.ssh)).status, 'running', 'the VM is untouched');
  },
);

// The on-host agent on this machine (LocalHost): the CLI hands each phase to the agent, which runs it
// detached with the journal and the lock beside it. Real QEMU counter guests, real processes killed
// with SIGKILL; the only double is the facts edit described in test/helpers/cli-host.ts. The agent's
// files go to a folder of this test (LIVEUPDATE_AGENT_DIR), not this machine's /var/lib/liveupdate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLock } from '../../src/exec/lock.js';
import type { Host } from '../../src/host/host.js';
import { LocalHost } from '../../src/host/local.js';
import { ROOT } from '../helpers/paths.js';
import { assertRecovered, cliHost, counter, journal, prepare, type CliHost } from '../helpers/cli-host.js';
import { tempDir } from '../helpers/temp.js';

const agentDir = tempDir('/var/tmp/lu-agent-');
process.env['LIVEUPDATE_AGENT_DIR'] = agentDir; // inherited by the CLI and, through it, the agent
const phases = ['suspend', 'kexec', 'resume'];
const nodeOptions = process.env['NODE_OPTIONS'];
/** The agents the CLI starts from now on stop themselves after their n-th step end (0: they don't): test/helpers/agent-failpoint.ts, preloaded. */
const failpoint = (n: number): void => {
  if (n > 0) {
    process.env['NODE_OPTIONS'] = `${nodeOptions ?? ''} --import=${new URL('../helpers/agent-failpoint.js', import.meta.url).href}`.trim();
    process.env['LU_TEST_STOP_AFTER_STEPS'] = String(n);
  } else {
    if (nodeOptions === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = nodeOptions;
    delete process.env['LU_TEST_STOP_AFTER_STEPS'];
  }
};
const args = (h: CliHost, cmd: string): string[] => [cmd, '--profile', h.profile, '--facts', h.facts, '--vmm-only', '--agent'];
const lockOf = (h: CliHost): string => join(h.dir, 'journal', 'clihost.journal.lock');
const ends = (h: CliHost): number => {
  try {
    return journal(h).filter((r) => r.type === 'step-end').length;
  } catch {
    return 0;
  }
};

/**
 * SIGKILL the agent holding `h`'s lock once it stopped itself at the failpoint (the journal then has
 * exactly the boundary's step ends: test/helpers/agent-failpoint.ts); resolves
 * true when it did, false when the command ended without the agent stopping there.
 */
async function killAgentAt(h: CliHost, stop: { done: boolean }): Promise<boolean> {
  while (!stop.done) {
    try {
      const pid = (JSON.parse(readFileSync(lockOf(h), 'utf8')) as { pid: number }).pid;
      // field 3 of /proc/PID/stat, after the command's parenthesised name: T is stopped
      if (/\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) {
        process.kill(pid, 'SIGKILL');
        return true;
      }
    } catch {
      // no lock yet, or the agent already ended
    }
    await sleep(5);
  }
  return false;
}

test.after(() => rmSync(agentDir, { recursive: true, force: true }));

test(
  'the agent killed at every step boundary: the follower says so, re-running continues, the VM ends up running with memory intact, nothing unsafe repeats',
  { timeout: 1_800_000 },
  async () => {
    let boundaries = 0;
    {
      const h = await cliHost({ vms: 1 });
      try {
        await prepare(h);
        for (const cmd of phases) {
          const r = await h.cli(args(h, cmd));
          assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
        }
        boundaries = ends(h);
        assert.equal((await counter(h, h.names[0]!)).status, 'running');
      } finally {
        h.cleanup();
      }
    }
    assert.ok(boundaries >= 12, `${boundaries} boundaries`);
    let saidGone = 0;
    for (let k = 1; k <= boundaries; k++) {
      const h = await cliHost({ vms: 1 });
      const vm = h.names[0]!;
      try {
        await prepare(h);
        await sleep(300);
        let rerunFrom = phases.length;
        let killed = false;
        for (const [i, cmd] of phases.entries()) {
          const stop = { done: false };
          // the agent of this command stops at boundary k if k falls inside it
          failpoint(k - ends(h));
          const killer = killed ? Promise.resolve(false) : killAgentAt(h, stop);
          const r = await h.cli(args(h, cmd));
          failpoint(0);
          stop.done = true;
          if (await killer) {
            killed = true;
            // killed before it wrote a result: the follower says the agent is gone; after it: the command finished
            if (r.code !== 0) {
              assert.equal(r.code, 3, r.stderr);
              assert.match(r.stderr, /the agent is gone without a result .*run the same command again: it continues from the journal/s);
              saidGone++;
              rerunFrom = i;
              break;
            }
            rerunFrom = i + 1;
            break;
          }
          assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
        }
        assert.ok(killed, `killed at boundary ${k}`);
        for (const cmd of phases.slice(rerunFrom)) {
          const r = await h.cli(args(h, cmd));
          assert.equal(r.code, 0, `boundary ${k}, re-run ${cmd}: ${r.stderr}${r.stdout}`);
        }
        await assertRecovered(h, vm, `boundary ${k}`);
        assert.equal(existsSync(lockOf(h)), false, `boundary ${k}: the last agent let go of the host`);
      } finally {
        h.cleanup();
      }
    }
    // most kills land while the agent runs (the rest just after it finished a command)
    assert.ok(saidGone >= 1, `the follower said the agent was gone ${saidGone} times`);
  },
);

test(
  'Ctrl-C while following the agent detaches (exit 2, says how to follow again); the agent goes on; status --follow waits for its end',
  { timeout: 300_000 },
  async () => {
    const h = await cliHost({ vms: 1 });
    try {
      await prepare(h);
      let interrupted = false;
      // Ctrl-C as soon as the plan is shown: the agent is being started, the follower has not begun
      const r = await h.cli([...args(h, 'suspend'), '--json'], (line, signal) => {
        if (!interrupted && line.includes('"type":"plan"')) {
          interrupted = true;
          signal('SIGINT');
        }
      });
      assert.equal(r.code, 4, r.stderr);
      const detached = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; follow?: string })
        .find((e) => e.type === 'detached');
      assert.match(detached?.follow ?? '', /^liveupdate status --follow --profile \S+$/);
      // this process only followed: the agent finishes the suspend on its own
      const st = await h.cli(['status', '--profile', h.profile, '--follow', '--json']);
      assert.equal(st.code, 0, st.stderr);
      // the status document: alone when the agent had already finished, or, when status followed its
      // last steps, the `result` event after those events (NDJSON: a format line first)
      type Status = { done: string[]; failed: Record<string, unknown> };
      const doc = st.stdout.startsWith('{"type":"format"')
        ? (st.stdout
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { type: string; data?: Status })
            .find((e) => e.type === 'result')?.data as Status)
        : (JSON.parse(st.stdout) as Status);
      assert.ok(doc.done.includes(`suspend/quit/${h.names[0]}`), st.stdout);
      assert.deepEqual(doc.failed, {});
      assert.deepEqual(h.qemuPids(), [], 'suspended: the QEMU has quit');
      for (const cmd of ['kexec', 'resume']) assert.equal((await h.cli(args(h, cmd))).code, 0);
      assert.equal((await counter(h, h.names[0]!)).status, 'running');
    } finally {
      h.cleanup();
    }
  },
);

test(
  "host install puts the documented files there, on the host's own Node where it is new enough, else a copy of this one; a second install costs one round trip; uninstall is refused while a run holds the host, then removes them",
  { timeout: 120_000 },
  async () => {
    // imported here, after LIVEUPDATE_AGENT_DIR is set above
    const { installAgent, uninstallAgent, agentInstallPreview } = await import('../../src/app/agent-install.js');
    // TEST DOUBLE around the real local host: counts its round trips; with `path`, its commands see that PATH
    const local = new LocalHost();
    let calls = 0;
    const hostWith = (path?: string): Host => ({
      name: local.name,
      local: local.local,
      exec: (argv, o) => (calls++, local.exec(path ? ['env', `PATH=${path}`, ...argv] : argv, o)),
      put: (c, p, m) => (calls++, local.put(c, p, m)),
      fetch: (p) => local.fetch(p),
      connectUnix: (p) => local.connectUnix(p),
      close: () => local.close(),
    });
    const masked = (): string[] =>
      readdirSync(agentDir)
        .filter((f) => f !== 'runs') // (runs/ holds the requests of the tests above)
        .map((f) => f.replace(/-[0-9a-f]{16}/, '-SHA'))
        .sort();
    // this machine's Node (20) is first on PATH: the host's own runtime, nothing of it copied
    const hostNode = execFileSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).trim();
    const host = hostWith();
    const listing = (): string[] => (existsSync(agentDir) ? readdirSync(agentDir).sort() : []);
    const before = listing();
    const preview = await agentInstallPreview(host);
    assert.deepEqual(preview.runtime, { path: hostNode, version: process.version, hosts: true });
    assert.ok(
      preview.files.every((f) => !f.path.includes('/node-')),
      'no runtime in the list',
    );
    assert.deepEqual(listing(), before, 'the preview changed nothing');
    const shown: number[] = [];
    const r = await installAgent(host, { onInstall: (p) => shown.push(p.toCopy) });
    assert.equal(r.bin, `${agentDir}/liveupdate-agent`);
    assert.equal(r.runtime, hostNode);
    assert.deepEqual(shown, preview.current ? [] : [preview.toCopy], 'told what is copied before it is');
    assert.deepEqual(masked(), ['liveupdate', 'liveupdate-SHA.mjs', 'liveupdate-agent', 'liveupdate-agent-SHA.cjs', 'lu-helper']);
    assert.match(
      readFileSync(join(agentDir, 'liveupdate'), 'utf8'),
      new RegExp(`exec ${hostNode} ${agentDir}/liveupdate-[0-9a-f]{16}\\.mjs "\\$@"`),
    );
    assert.equal(execFileSync(join(agentDir, 'liveupdate'), ['--version'], { encoding: 'utf8' }).trim(), '0.1.0');
    calls = 0;
    await installAgent(host, { onInstall: () => assert.fail('nothing to install') });
    assert.equal(calls, 1, 'already there: one probe, nothing copied');
    // --no-install on a host that has it all: runs; a file changed on the host after it was copied
    // (same name, other content) is refused with --no-install, copied again without, never run
    await installAgent(host, { refuse: true });
    const agentFile = join(
      agentDir,
      readdirSync(agentDir).find((f) => f.startsWith('liveupdate-agent-'))!,
    );
    appendFileSync(agentFile, '\nprocess.exit(0);\n');
    await assert.rejects(
      installAgent(host, { refuse: true }),
      /--no-install, and this build's agent is not there: 1 file, .* to copy \(.*liveupdate-agent-[0-9a-f]{16}\.cjs .*: the agent\).*nothing was installed and nothing ran/,
    );
    await installAgent(host);
    assert.equal(
      readFileSync(agentFile, 'utf8'),
      readFileSync(join(ROOT, 'dist/agent/liveupdate-agent.cjs'), 'utf8'),
      'the tampered agent was replaced',
    );

    // TEST DOUBLE of a host whose Node is too old: a `node` first on PATH that says v18.19.1
    const old = tempDir('/var/tmp/lu-oldnode-');
    writeFileSync(join(old, 'node'), '#!/bin/sh\necho v18.19.1\n', { mode: 0o755 });
    const oldHost = hostWith(`${old}:${process.env['PATH']}`);
    const copied = await installAgent(oldHost);
    assert.match(copied.runtime, new RegExp(`^${agentDir}/node-[0-9a-f]{16}$`));
    assert.equal(statSync(copied.runtime).size, statSync(process.execPath).size, 'the runtime is this Node');
    assert.ok(masked().includes('node-SHA'));
    assert.match(readFileSync(join(agentDir, 'liveupdate'), 'utf8'), /exec \S+\/node-[0-9a-f]{16} /);
    assert.equal(execFileSync(join(agentDir, 'liveupdate'), ['--version'], { encoding: 'utf8' }).trim(), '0.1.0');

    const journal = join(tempDir('/var/tmp/lu-agent-j-'), 'h.journal');
    writeFileSync(journal, '');
    const lock = acquireLock(`${journal}.lock`, {
      runId: 'r1',
      who: 'ops@cn',
      bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
      command: 'run',
    });
    await assert.rejects(uninstallAgent(host, journal), /the lock .* is there .*: the agent stays; nothing was removed/);
    assert.ok(existsSync(agentDir));
    lock.release();
    const u = await uninstallAgent(host, journal);
    assert.deepEqual(u.removed, [agentDir]);
    assert.ok(u.kept.includes(journal), 'the journal is kept, and said');
    assert.equal(existsSync(agentDir), false);
    const purged = await uninstallAgent(host, journal, { purge: true });
    assert.deepEqual(purged.removed, [journal, dirname(journal)]);
    assert.equal(existsSync(dirname(journal)), false);
  },
);

test('status --follow takes the request a control node wrote last, not the one the agent marked running: a detach before the agent starts follows the new request', async () => {
  // imported here, after LIVEUPDATE_AGENT_DIR is set above
  const { latestRequest } = await import('../../src/app/agent.js');
  const { AGENT_RUNS } = await import('../../src/agent/request.js');
  const older = join(AGENT_RUNS, 'older-request');
  const newer = join(AGENT_RUNS, 'newer-request');
  // (later than any spool an earlier test of this file left: seconds ahead of now)
  const now = Date.now() / 1000;
  for (const [d, at] of [
    [older, now + 30],
    [newer, now + 60],
  ] as const) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    writeFileSync(join(d, 'request.json'), JSON.stringify({ requestId: basename(d), at }) + '\n');
    utimesSync(join(d, 'request.json'), at, at);
  }
  writeFileSync(join(older, 'result.json'), JSON.stringify({ requestId: 'older-request', state: 'finished' }) + '\n');
  // the agent's own mark still names the older, finished request: the newer one's agent has not run yet
  rmSync(join(AGENT_RUNS, 'latest'), { force: true });
  symlinkSync('older-request', join(AGENT_RUNS, 'latest'));
  try {
    const latest = await latestRequest(new LocalHost());
    assert.equal(latest?.spool, newer);
    assert.equal(latest?.result, undefined, 'the newer request has no result yet: status --follow waits for it');
  } finally {
    for (const p of [older, newer, join(AGENT_RUNS, 'latest')]) rmSync(p, { recursive: true, force: true });
  }
});

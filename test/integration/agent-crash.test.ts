// The on-host agent on this machine (LocalHost): the CLI hands each phase to the agent, which runs it
// detached with the journal and the lock beside it. Real QEMU counter guests, real processes killed
// with SIGKILL; the only double is the facts edit described in test/helpers/cli-host.ts. The agent's
// files go to a folder of this test (LIVEUPDATE_AGENT_DIR), not this machine's /var/lib/liveupdate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertRecovered, cliHost, counter, journal, prepare, type CliHost } from '../helpers/cli-host.js';

const agentDir = mkdtempSync('/var/tmp/lu-agent-');
process.env['LIVEUPDATE_AGENT_DIR'] = agentDir; // inherited by the CLI and, through it, the agent
const phases = ['suspend', 'kexec', 'resume'];
const args = (h: CliHost, cmd: string): string[] => [cmd, '--profile', h.profile, '--facts', h.facts, '--vmm-only', '--agent'];
const lockOf = (h: CliHost): string => join(h.dir, 'journal', 'clihost.journal.lock');
const ends = (h: CliHost): number => {
  try {
    return journal(h).filter((r) => r.t === 'end').length;
  } catch {
    return 0;
  }
};

/** SIGKILL the agent holding `h`'s lock once the journal has `k` finished steps; resolves when it did. */
async function killAgentAt(h: CliHost, k: number, stop: { done: boolean }): Promise<boolean> {
  while (!stop.done) {
    if (ends(h) >= k && existsSync(lockOf(h))) {
      const pid = (JSON.parse(readFileSync(lockOf(h), 'utf8')) as { pid: number }).pid;
      try {
        process.kill(pid, 'SIGKILL');
        return true;
      } catch {
        // it ended between the read and the kill
      }
    }
    await sleep(5);
  }
  return false;
}

test.after(() => rmSync(agentDir, { recursive: true, force: true }));

test('the agent killed at every step boundary: the follower says so, re-running continues, the VM ends up running with memory intact, nothing unsafe repeats', { timeout: 1_800_000 }, async () => {
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
        const killer = killed ? Promise.resolve(false) : killAgentAt(h, k, stop);
        const r = await h.cli(args(h, cmd));
        stop.done = true;
        if (await killer) {
          killed = true;
          // killed before it wrote a result: the follower says the agent is gone; after it: the command finished
          if (r.code !== 0) {
            assert.equal(r.code, 1, r.stderr);
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
});

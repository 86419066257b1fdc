// `liveupdate fleet` end to end over real OpenSSH: three sshd instances on loopback, each playing
// one host. Every host is this machine (test/helpers/cli-host.ts: a loop-mounted ext4 stands in for
// pmem, the saved facts say so — the test double; each sshd gives its sessions a machine id of their
// own, so that each plays a machine) with its own real QEMU counter VM; the rollout is
// --vmm-only (the VMMs restart on the running kernel), one host per batch, with a health gate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliHost, type CliHost } from '../helpers/cli-host.js';
import { counter, qemuPid, startVms } from '../helpers/cli-fleet.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { assertMatchesSchema } from '../helpers/schemas.js';
import { tempDir } from '../helpers/temp.js';

const N = 3;
const sshds: Sshd[] = [];
const hosts: CliHost[] = [];
let dir: string;
let knownHosts: string;

before(
  async () => {
    dir = tempDir('/var/tmp/lu-fleet-sshd-');
    // the hosts first: each sshd plays a machine of its own (its own machine id, in a mount namespace
    // of its own that sees the mounts made before it starts: each host's loop-mounted pmem)
    for (let i = 0; i < N; i++) hosts.push(await cliHost({ vms: 1 }));
    for (let i = 0; i < N; i++) sshds.push(await startSshd({ ownMachine: true }));
    knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, sshds.map((s) => s.knownHostsLine).join(''));
    // the hosts were prepared earlier and their VMs run (the fleet runs the update: suspend, kexec, resume)
    for (const h of hosts) await startVms(h);
  },
  { timeout: 300_000 },
);

after(async () => {
  for (const h of hosts) h.cleanup();
  for (const s of sshds) await s.stop();
});

/** An inventory of the three hosts; `shell: 'slow'` reaches them where every command pays 1 s more. */
function inventory(gate: string, extra = '', shell: 'as is' | 'slow' = 'as is'): string {
  const file = join(dir, `inv-${Math.random().toString(36).slice(2)}.yaml`);
  const lines = hosts.map(
    (h, i) =>
      `  - {name: hv${i + 1}, address: 127.0.0.1, port: ${shell === 'slow' ? sshds[i]!.slowPort : sshds[i]!.port}, user: root, profile: ${h.profile}, facts: ${h.facts}, identity: ${sshds[i]!.clientKey}, labels: {rack: r${i}}}`,
  );
  writeFileSync(
    file,
    `version: 1\ndefaults: {knownHosts: ${knownHosts}, hostname: clihost}\nhosts:\n${lines.join('\n')}\nrollout:\n  serial: 1\n  maxFailPercentage: 0\n  vmmOnly: true\n  phases: update\n  healthGate: {command: [sh, -c, '${gate}'], timeout: 3s, interval: 500ms}\n${extra}`,
  );
  return file;
}

// `fleet run` step by step over SSH (--via ssh): the on-host agent, the default, is in test/lab/fleet.test.ts
function cli(args: string[], onStdout?: (chunk: string) => void): Promise<CliResult> {
  return runCli(['fleet', ...args, ...(args[0] === 'run' ? ['--via', 'ssh'] : []), '--fleet-dir', join(dir, 'runs')], {
    ...(onStdout ? { onStdout } : {}),
  });
}

test('fleet plan over 3 real sshd: facts and a plan per host, the batches, nothing changed', { timeout: 120_000 }, async () => {
  const pids = hosts.map(qemuPid);
  const r = await cli(['plan', '--inventory', inventory('true'), '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const doc = JSON.parse(r.stdout) as { batches: string[][]; hosts: Array<{ host: string; ok: boolean; steps: number }> };
  assert.deepEqual(doc.batches, [['hv1'], ['hv2'], ['hv3']]);
  assert.ok(doc.hosts.every((h) => h.ok && h.steps > 0));
  assert.deepEqual(hosts.map(qemuPid), pids);
  const limited = await cli(['plan', '--inventory', inventory('true'), '--limit', 'rack=r1', '--json']);
  assert.deepEqual((JSON.parse(limited.stdout) as { batches: string[][] }).batches, [['hv2']]);
});

// Twice: with the login shell as this machine has it, and slowed by 1 s per command on purpose (a
// gate of 3 s then fits about two checks). The outcome must be the same: the gate judges exit codes.
for (const shell of ['as is', 'slow'] as const) {
  test(
    `fleet run (login shell ${shell}): a failed health gate on hv2 stops the run, hv3 is untouched; --resume finishes it`,
    { timeout: 900_000 },
    async () => {
      const flag = join(dir, `hv2-healthy-${shell.replace(' ', '-')}`);
      const marker = join(dir, `gate-for-hv2-${shell.replace(' ', '-')}`);
      // all three hosts are this machine, so the gate cannot tell them apart by itself: it fails once
      // the marker made at hv2's start exists, until the flag says hv2 is healthy
      const inv = inventory(`test -e ${flag} -o ! -e ${marker}`, '', shell);
      const pidsBefore = hosts.map(qemuPid);
      const c0 = await counter(hosts[0]!);
      const r = await cli(['run', '--inventory', inv, '--json'], (chunk) => {
        for (const line of chunk.split('\n').filter(Boolean)) {
          if ((JSON.parse(line) as { type: string; host?: string }).type === 'host-start' && line.includes('"host":"hv2"'))
            writeFileSync(marker, '');
        }
      });
      // stopped after it changed hosts (hv1 and hv2 updated): 3, --resume goes on
      assert.equal(r.code, 3, r.stderr);
      const events = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(events[0], { type: 'format', format: 'liveupdate-events', version: 1 });
      for (const e of events) assertMatchesSchema('events', e);
      const result = events.at(-1) as {
        type: string;
        runId: string;
        stopped: string;
        hosts: Array<{ host: string; state: string; error?: string; blackouts: unknown[] }>;
      };
      assert.equal(result.type, 'result');
      assert.deepEqual(
        result.hosts.map((h) => [h.host, h.state]),
        [
          ['hv1', 'ok'],
          ['hv2', 'failed'],
          ['hv3', 'not-started'],
        ],
        JSON.stringify(result.hosts.map((h) => h.error)),
      );
      assert.match(result.hosts[1]!.error!, /^health gate: `sh -c .*` exited 1 \(for 3 s\)$/);
      assert.match(result.stopped, /^batch 2: 1 of 1 host\(s\) failed, more than maxFailPercentage 0%/);
      assert.equal(result.hosts[0]!.blackouts.length, 1, 'hv1 reports its VM blackout');
      const pidsAfter = hosts.map(qemuPid);
      assert.notEqual(pidsAfter[0], pidsBefore[0], 'hv1 VMM restarted');
      assert.notEqual(pidsAfter[1], pidsBefore[1], 'hv2 VMM restarted (its gate failed after)');
      assert.equal(pidsAfter[2], pidsBefore[2], 'hv3 untouched');
      assert.ok((await counter(hosts[0]!)) > c0, 'hv1 VM continued');
      assert.ok(existsSync(join(dir, 'runs', result.runId, 'report.json')));

      const st = await cli(['status', '--inventory', inv]);
      assert.equal(st.code, 0);
      assert.match(st.stdout, new RegExp(`fleet run ${result.runId}: stopped: batch 2`));
      assert.match(st.stdout, /hv3\s+3\s+not-started/);

      writeFileSync(flag, '');
      const resumed = await cli(['run', '--inventory', inv, '--resume', result.runId]);
      assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
      assert.match(resumed.stdout, /hv1\s+1\s+ok \(earlier\)/);
      assert.match(resumed.stdout, /hv3\s+3\s+ok/);
      assert.match(resumed.stdout, /fleet run done/);
      const pidsFinal = hosts.map(qemuPid);
      assert.equal(pidsFinal[0], pidsAfter[0], 'hv1 was not run again');
      assert.notEqual(pidsFinal[2], pidsBefore[2], 'hv3 updated');
    },
  );
}

test(
  'one machine is one host: a second inventory entry reaching a machine the run already updated is refused at run time, nothing done on it',
  { timeout: 600_000 },
  async () => {
    // hv1 and hv1-again: one sshd (one machine id) by its two ports; the addresses differ, the machine does not
    const file = join(dir, 'inv-same-machine.yaml');
    const h = hosts[0]!;
    const entry = (name: string, port: number) =>
      `  - {name: ${name}, address: 127.0.0.1, port: ${port}, user: root, profile: ${h.profile}, facts: ${h.facts}, identity: ${sshds[0]!.clientKey}}`;
    writeFileSync(
      file,
      `version: 1\ndefaults: {knownHosts: ${knownHosts}, hostname: clihost}\nhosts:\n${entry('hv1', sshds[0]!.port)}\n${entry('hv1-again', sshds[0]!.slowPort)}\nrollout:\n  serial: 1\n  maxFailPercentage: 0\n  vmmOnly: true\n  phases: update\n`,
    );
    const r = await cli(['run', '--inventory', file, '--json']);
    // hv1 was updated before hv1-again was refused: a run that changed hosts and stopped
    assert.equal(r.code, 3, r.stderr);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      hosts: Array<{ host: string; state: string; error?: string; phaseReached?: string }>;
    };
    assert.deepEqual(
      result.hosts.map((x) => [x.host, x.state]),
      [
        ['hv1', 'ok'],
        ['hv1-again', 'failed'],
      ],
    );
    assert.match(
      result.hosts[1]!.error!,
      /^hv1-again is the machine hv1 is \(machine id [0-9a-f]{32}\): this run updates a machine once; nothing was done on it/,
    );
    assert.equal(result.hosts[1]!.phaseReached, undefined, 'no step ran on hv1-again');
  },
);

test('bad inventory and --limit: clear errors, exit codes, nothing run', { timeout: 60_000 }, async () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'version: 1\nhosts:\n  - {name: hv1, port: 0}\n');
  const r = await cli(['run', '--inventory', bad]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.yaml:3:23: hosts\[0\]\.port: must be a TCP port/);
  const none = await cli(['run', '--inventory', inventory('true'), '--limit', 'nothing-matches']);
  assert.equal(none.code, 64);
  assert.match(none.stderr, /--limit 'nothing-matches' selects no host/);
});

test(
  'a host already where the update would take it is skipped: up to date in the plan and the run, no VM touched, no gate; --force updates it',
  { timeout: 600_000 },
  async () => {
    // facts probed now: each VM runs on the QEMU that would restore it (a VMM-only update has nothing to do)
    for (const h of hosts) await h.refreshFacts();
    const pids = hosts.map(qemuPid);
    const gateRan = join(dir, 'gate-ran-up-to-date');
    const inv = inventory(`touch ${gateRan}`);
    const plan = await cli(['plan', '--inventory', inv]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.equal(
      (plan.stdout.match(/up to date, nothing to do: every VM runs on the QEMU that would restore it/g) ?? []).length,
      N,
      plan.stdout,
    );
    const r = await cli(['run', '--inventory', inv, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { hosts: Array<{ host: string; state: string; upToDate?: string }> };
    assert.deepEqual(
      result.hosts.map((x) => [x.host, x.state, /every VM runs on the QEMU that would restore it/.test(x.upToDate ?? '')]),
      [
        ['hv1', 'ok', true],
        ['hv2', 'ok', true],
        ['hv3', 'ok', true],
      ],
    );
    assert.deepEqual(hosts.map(qemuPid), pids, 'no VMM restarted');
    assert.equal(existsSync(gateRan), false, 'no health gate for a host that was not changed');
    const forced = await cli(['run', '--inventory', inv, '--force', '--limit', 'hv1', '--json']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(qemuPid(hosts[0]!), pids[0], 'hv1 updated all the same');
    assert.ok(existsSync(gateRan), 'its health gate ran');
    assert.ok((await counter(hosts[0]!)) > 0n);
  },
);

test(
  "plan --host says what run would put on the host before anything is (real sshd; this machine's Node 20 is the host's own), and changes nothing there",
  { timeout: 120_000 },
  async () => {
    const h = hosts[0]!;
    const s = sshds[0]!;
    const target = ['--host', `root@127.0.0.1:${s.port}`, '--identity', s.clientKey, '--known-hosts', knownHosts];
    const listing = (): string => spawnSync('sh', ['-c', 'ls -la /var/lib/liveupdate/agent 2>&1'], { encoding: 'utf8' }).stdout;
    const before = listing();
    const json = await runCli(['plan', '--profile', h.profile, '--facts', h.facts, '--vmm-only', '--force', '--json', ...target]);
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as {
      agentInstall: {
        runtime: { hosts: boolean; version: string };
        files: Array<{ path: string; bytes: number; present: boolean }>;
        toCopy: number;
      };
    };
    assert.deepEqual([doc.agentInstall.runtime.hosts, doc.agentInstall.runtime.version], [true, process.version]);
    const names = doc.agentInstall.files.map((f) => f.path.replace(/-[0-9a-f]{16}/, '-SHA'));
    assert.deepEqual(names, [
      '/var/lib/liveupdate/agent/liveupdate-agent-SHA.cjs',
      '/var/lib/liveupdate/agent/liveupdate-SHA.mjs',
      '/var/lib/liveupdate/agent/liveupdate-agent',
      '/var/lib/liveupdate/agent/liveupdate',
      '/var/lib/liveupdate/bin/lu-helper-SHA',
    ]);
    assert.equal(
      doc.agentInstall.toCopy,
      doc.agentInstall.files.filter((f) => !f.present).reduce((a, f) => a + f.bytes, 0),
    );
    const human = await runCli(['plan', '--profile', h.profile, '--facts', h.facts, '--vmm-only', '--force', ...target]);
    assert.match(
      human.stdout,
      /\n(before it runs, run --host installs liveupdate's agent on \S+: .*the host's own Node v\d+\.\d+\.\d+ \(\S+\) runs it: no runtime copied.*\(--no-install refuses; host uninstall removes it\)|on \S+, liveupdate's agent is this build's: run installs nothing)\n/,
    );
    assert.equal(listing(), before, 'nothing was installed');
  },
);

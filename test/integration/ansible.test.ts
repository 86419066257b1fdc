// The Ansible collection (ansible/, `npm run build:collection` -> dist/ansible/) with Debian's real
// ansible-core: installed from its tarball into a temporary collections path, checked by
// `ansible-test sanity`, then its rolling-update playbook over three real OpenSSH sshd on loopback.
// Each host is this machine (test/helpers/cli-host.ts: a loop-mounted ext4 stands in for pmem, the
// saved facts say so — the test double) with its own real QEMU counter VM; the update is vmm_only,
// as in the fleet tests. Task results are read through a callback plugin of the tests
// (test/helpers/ansible/record.py: ansible-core has no JSON callback of its own).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliHost, type CliHost } from '../helpers/cli-host.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { ROOT } from '../helpers/paths.js';
import { installCollection, runPlaybook } from '../helpers/ansible.js';
import { runCli } from '../helpers/run-cli.js';
import { startVms, qemuPid, counter } from '../helpers/cli-fleet.js';
import { tempDir } from '../helpers/temp.js';

const N = 3;
const sshds: Sshd[] = [];
const hosts: CliHost[] = [];
let dir: string;
let collections: string;
let inventory: string;

before(
  async () => {
    dir = tempDir('/var/tmp/lu-ansible-');
    collections = installCollection(dir);
    for (let i = 0; i < N; i++) {
      sshds.push(await startSshd());
      hosts.push(await cliHost({ vms: 1 }));
    }
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, sshds.map((s) => s.knownHostsLine).join(''));
    // the same data as the fleet inventory of test/integration/fleet-sshd.test.ts, in Ansible's form
    inventory = join(dir, 'inventory.yml');
    const lines = hosts.map((h, i) =>
      [
        `        hv${i + 1}:`,
        `          ansible_host: 127.0.0.1`,
        `          ansible_port: ${sshds[i]!.port}`,
        `          ansible_ssh_private_key_file: ${sshds[i]!.clientKey}`,
        `          liveupdate_profile: ${h.profile}`,
        `          liveupdate_facts: ${h.facts}`,
      ].join('\n'),
    );
    writeFileSync(
      inventory,
      [
        'all:',
        '  vars:',
        '    ansible_user: root',
        '    ansible_python_interpreter: /usr/bin/python3',
        // the tests' sshd has no sftp subsystem
        '    ansible_ssh_transfer_method: piped',
        `    ansible_ssh_common_args: -o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes`,
        `    liveupdate_known_hosts: ${knownHosts}`,
        `    liveupdate_cli: ${join(ROOT, 'bin/liveupdate.js')}`,
        '  children:',
        '    hypervisors:',
        '      hosts:',
        ...lines,
        '',
      ].join('\n'),
    );
    for (const h of hosts) await startVms(h);
  },
  { timeout: 300_000 },
);

after(async () => {
  for (const h of hosts) h.cleanup();
  for (const s of sshds) await s.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** ansible-playbook with the installed collection over the three hosts. */
const playbook = (args: string[]): ReturnType<typeof runPlaybook> => runPlaybook({ collections, inventory, dir, timeoutMs: 900_000 }, args);

test('the collection installs from the built tarball: its module documented, its playbook there', () => {
  const root = join(collections, 'ansible_collections/liveupdate/hypervisor');
  for (const f of [
    'MANIFEST.json',
    'FILES.json',
    'meta/runtime.yml',
    'plugins/modules/live_update.py',
    'plugins/action/live_update.py',
    'plugins/module_utils/live_update.py',
    'playbooks/rolling_update.yml',
  ]) {
    assert.ok(existsSync(join(root, f)), f);
  }
  const doc = execFileSync('ansible-doc', ['--json', 'liveupdate.hypervisor.live_update'], {
    encoding: 'utf8',
    env: { ...process.env, ANSIBLE_COLLECTIONS_PATH: collections },
  });
  const options = (JSON.parse(doc) as Record<string, { doc: { options: Record<string, unknown> } }>)['liveupdate.hypervisor.live_update']!
    .doc.options;
  for (const o of ['profile', 'profile_content', 'phase', 'vmm_only', 'plan', 'facts', 'via', 'force'])
    assert.ok(o in options, `option ${o} documented`);
});

test('--check: each host planned over its own SSH, changed means steps to do, nothing on any host changed', { timeout: 300_000 }, () => {
  const pids = hosts.map(qemuPid);
  const r = playbook([
    '--check',
    '--diff',
    'liveupdate.hypervisor.rolling_update',
    '-e',
    'liveupdate_phase=update',
    '-e',
    'liveupdate_vmm_only=true',
    '-e',
    'liveupdate_health_gate=false',
  ]);
  assert.equal(r.code, 0, r.out);
  const updates = r.records.filter((x) => x.task === 'Live update');
  assert.deepEqual(
    updates.map((x) => [x.host, x.status]),
    [
      ['hv1', 'ok'],
      ['hv2', 'ok'],
      ['hv3', 'ok'],
    ],
    r.out,
  );
  for (const u of updates) {
    const plan = u.result['plan'] as { update: string; to_do: number; steps: number; vms: string[] };
    assert.equal(plan.update, 'vmm');
    assert.ok(plan.to_do > 0 && plan.to_do <= plan.steps);
    assert.equal(u.result.changed, true);
    assert.match(String(u.result['boot_id_before']), /^[0-9a-f-]{36}$/);
    assert.equal(u.result['run_id'], undefined, 'nothing ran');
    const diff = u.result['diff'] as { after: string };
    assert.match(diff.after, /^suspend\/stop\/\S+ {2}pause /m, 'the diff lists the steps to run');
    assert.doesNotMatch(diff.after, /^prepare\//m, 'phase update: no prepare step');
  }
  // the health gate (`false`) is not run in check mode
  assert.ok(r.records.filter((x) => x.task === 'Health gate').every((x) => x.status === 'skipped'));
  assert.deepEqual(hosts.map(qemuPid), pids, 'no VMM restarted');
});

test(
  'serial [1, "50%"]: hv1 updated through the collection, the health gate fails on hv2, hv3 untouched',
  { timeout: 900_000 },
  async () => {
    const gate = join(dir, 'gate-fails-on');
    // every host is this machine: the gate fails on the host named in this file
    writeFileSync(gate, 'hv2');
    const pidsBefore = hosts.map(qemuPid);
    const c0 = await counter(hosts[0]!);
    const r = playbook([
      'liveupdate.hypervisor.rolling_update',
      '-e',
      'liveupdate_phase=update',
      '-e',
      'liveupdate_vmm_only=true',
      '-e',
      `liveupdate_health_gate="sh -c 'test {{ inventory_hostname }} != $(cat ${gate})'"`,
      '-e',
      'liveupdate_health_retries=1',
      '-e',
      'liveupdate_health_delay=1',
    ]);
    assert.equal(r.code, 2, r.out);
    const updates = r.records.filter((x) => x.task === 'Live update');
    assert.deepEqual(
      updates.map((x) => [x.host, x.status]),
      [
        ['hv1', 'ok'],
        ['hv2', 'ok'],
      ],
      r.out,
    );
    const gates = r.records.filter((x) => x.task === 'Health gate');
    assert.deepEqual(
      gates.map((x) => [x.host, x.status]),
      [
        ['hv1', 'ok'],
        ['hv2', 'failed'],
      ],
    );
    const hv1 = updates[0]!.result as {
      changed: boolean;
      blackouts: Array<{ vm: string; ms: number }>;
      boot_id_before: string;
      boot_id_after: string;
      run_id: string;
      journal: string;
      msg: string;
    };
    assert.equal(hv1.changed, true);
    assert.equal(updates[1]!.result.changed, true, JSON.stringify(updates[1]!.result));
    assert.deepEqual(
      hv1.blackouts.map((b) => b.vm),
      hosts[0]!.names,
    );
    assert.ok(hv1.blackouts[0]!.ms > 0);
    assert.equal(hv1.boot_id_after, hv1.boot_id_before, 'a VMM-only update: the same boot');
    assert.match(hv1.run_id, /\S/);
    assert.match(
      hv1.journal,
      new RegExp(`^root@127\\.0\\.0\\.1:${sshds[0]!.port}:/.*/clihost\\.journal$`),
      "the agent's journal, on the host",
    );
    assert.match(hv1.msg, /VMM restart done; blackout/);
    const pidsAfter = hosts.map(qemuPid);
    assert.notEqual(pidsAfter[0], pidsBefore[0], 'hv1 VMM restarted');
    assert.notEqual(pidsAfter[1], pidsBefore[1], 'hv2 VMM restarted (its gate failed after)');
    assert.equal(pidsAfter[2], pidsBefore[2], 'hv3 untouched');
    assert.ok((await counter(hosts[0]!)) > c0, 'hv1 VM continued');
    assert.ok(!r.records.some((x) => x.host === 'hv3'), 'no task ran on hv3');
    assert.doesNotMatch(r.out, /^hv3\s+:/m, 'hv3 is not in the recap');
  },
);

test('a saved plan: --check shows exactly that plan, bound to the host it was made for', { timeout: 300_000 }, async () => {
  const saved = join(dir, 'hv3.plan');
  const made = await runCli(['plan', '--profile', hosts[2]!.profile, '--facts', hosts[2]!.facts, '--vmm-only', '--out', saved, '--json']);
  assert.equal(made.code, 0, made.stderr);
  const steps = (JSON.parse(made.stdout) as { steps: unknown[] }).steps.length;
  const pids = hosts.map(qemuPid);
  const r = playbook([
    '--check',
    'liveupdate.hypervisor.rolling_update',
    '--limit',
    'hv3',
    '-e',
    `liveupdate_plan=${saved}`,
    '-e',
    'liveupdate_vmm_only=true',
  ]);
  assert.equal(r.code, 0, r.out);
  const u = r.records.find((x) => x.task === 'Live update')!;
  assert.equal(u.status, 'ok', JSON.stringify(u.result));
  assert.equal((u.result['plan'] as { steps: number }).steps, steps, 'the saved plan, step for step');
  // the same plan for another host is refused before anything runs: it is bound to hv3's profile
  const wrong = playbook([
    '--check',
    'liveupdate.hypervisor.rolling_update',
    '--limit',
    'hv1',
    '-e',
    `liveupdate_plan=${saved}`,
    '-e',
    'liveupdate_vmm_only=true',
  ]);
  assert.equal(wrong.code, 2, wrong.out);
  const refused = wrong.records.find((x) => x.task === 'Live update')!;
  assert.equal(refused.status, 'failed');
  assert.match(String(refused.result.msg), /^PLAN_STALE: .*hv3\.plan: the profile .* changed since this plan was made .*nothing was done$/);
  assert.deepEqual(hosts.map(qemuPid), pids);
});

test("a profile error fails the task with liveupdate's own message, file and line; nothing runs", { timeout: 300_000 }, () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'version: 1\nhost: {name: clihost}\npersistence: {backend: pmem, size: lots}\n');
  const pids = hosts.map(qemuPid);
  const r = playbook([
    'liveupdate.hypervisor.rolling_update',
    '--limit',
    'hv3',
    '-e',
    `liveupdate_profile=${bad}`,
    '-e',
    'liveupdate_vmm_only=true',
  ]);
  assert.equal(r.code, 2, r.out);
  const u = r.records.find((x) => x.task === 'Live update')!;
  assert.equal(u.status, 'failed');
  assert.match(String(u.result.msg), /^PROFILE_INVALID: .*bad\.yaml: \d+ problems? in the profile; nothing was done/);
  assert.match(JSON.stringify(u.result['diagnostics']), /bad\.yaml:3:\d+/);
  assert.deepEqual(hosts.map(qemuPid), pids);
});

test('ansible-test sanity passes for the collection (the tests that run offline)', { timeout: 600_000 }, () => {
  // ansible-test runs inside ansible_collections/NS/NAME; a copy, so that it writes nothing here
  const tree = join(dir, 'sanity/ansible_collections/liveupdate/hypervisor');
  cpSync(join(ROOT, 'ansible'), tree, { recursive: true });
  execFileSync('git', ['init', '-q'], { cwd: tree });
  const r = spawnSync('ansible-test', ['sanity', '--python', '3.11', ...SANITY.flatMap((t) => ['--test', t])], {
    cwd: tree,
    encoding: 'utf8',
    timeout: 540_000,
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  for (const t of SANITY) assert.match(r.stdout, new RegExp(`Running sanity test "${t}"`), `ran ${t}`);
  // its pep8 test needs a pinned pycodestyle from PyPI: Debian's, with ansible-test's own settings
  const pep8 = spawnSync(
    '/usr/bin/python3',
    ['-m', 'pycodestyle', '--max-line-length', '160', '--ignore', 'E402,W503,W504,E741', join(tree, 'plugins')],
    { encoding: 'utf8' },
  );
  assert.equal(pep8.status, 0, pep8.stdout + pep8.stderr);
});

test("ansible-test units passes for the collection's tests/unit (offline: Debian's pytest)", { timeout: 300_000 }, () => {
  const tree = join(dir, 'units/ansible_collections/liveupdate/hypervisor');
  cpSync(join(ROOT, 'ansible'), tree, { recursive: true });
  execFileSync('git', ['init', '-q'], { cwd: tree });
  const r = spawnSync('ansible-test', ['units', '--python', '3.11'], { cwd: tree, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  // each test file ran, and every test in it passed
  const passed = [...r.stdout.matchAll(/=+ (\d+) passed/g)].reduce((a, m) => a + Number(m[1]), 0);
  assert.ok(passed >= 10, `${passed} tests passed:\n${r.stdout}`);
  assert.doesNotMatch(r.stdout, /\d+ failed/);
});

/**
 * The sanity tests that run with what Debian's ansible-core brings, offline. The others
 * (validate-modules, pep8, pylint, yamllint, runtime-metadata, import, ...) install pinned
 * requirements from PyPI into a virtual environment first, which this machine cannot reach.
 */
const SANITY = [
  'action-plugin-docs',
  'compile',
  'empty-init',
  'line-endings',
  'no-assert',
  'no-basestring',
  'no-dict-iteritems',
  'no-get-exception',
  'no-illegal-filenames',
  'no-main-display',
  'no-smart-quotes',
  'no-unicode-literals',
  'replace-urlopen',
  'shebang',
  'symlinks',
  'use-argspec-type-path',
  'use-compat-six',
];

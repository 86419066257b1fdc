// The fleet's pure parts: batches (Ansible's serial), the failure budget, label caps, --limit, the
// inventory file and its errors. No host is touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { batches, budgetExceeded, startable } from '../../../src/fleet/batches.js';
import { applyLimit } from '../../../src/fleet/limit.js';
import { parseInventory } from '../../../src/fleet/inventory.js';
import { FleetJournal, fleetState, readFleetRecords } from '../../../src/fleet/journal.js';
import type { LiveupdateError } from '../../../src/errors.js';
import { appendFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { planFleet } from '../../../src/app/fleet.js';
import { renderFleetPlan } from '../../../src/report/fleet-text.js';
import { ROOT } from '../../helpers/paths.js';
import { tempDir } from '../../helpers/temp.js';

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `h${String(i).padStart(4, '0')}`);

test('serial: a number, a percentage of the hosts in play, a list whose last value repeats', () => {
  assert.deepEqual(
    batches(names(7), 3).map((b) => b.length),
    [3, 3, 1],
  );
  assert.deepEqual(
    batches(names(10), '30%').map((b) => b.length),
    [3, 3, 3, 1],
  );
  assert.deepEqual(
    batches(names(10), '5%').map((b) => b.length),
    Array<number>(10).fill(1),
    'rounded down, at least 1',
  );
  assert.deepEqual(
    batches(names(1000), [1, 10, '10%']).map((b) => b.length),
    [1, 10, ...Array<number>(9).fill(100), 89],
  );
  assert.deepEqual(
    batches(names(4), undefined).map((b) => b.length),
    [4],
    'no serial: one batch',
  );
  assert.deepEqual(batches([], 3), []);
});

test('property: batches keep every host once, in order, none empty', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 500 }),
      fc.array(
        fc.oneof(
          fc.integer({ min: 1, max: 50 }),
          fc.integer({ min: 1, max: 100 }).map((p) => `${p}%`),
        ),
        { minLength: 1, maxLength: 4 },
      ),
      (n, serial) => {
        const hs = names(n);
        const bs = batches(hs, serial);
        assert.deepEqual(bs.flat(), hs);
        assert.ok(bs.every((b) => b.length > 0));
      },
    ),
  );
});

test('maxFailPercentage is "exceeded": 0 stops at the first failure, 20 tolerates 1 of 5 but not 2', () => {
  assert.equal(budgetExceeded(0, 10, 0), false);
  assert.equal(budgetExceeded(1, 10, 0), true);
  assert.equal(budgetExceeded(1, 5, 20), false);
  assert.equal(budgetExceeded(2, 5, 20), true);
  assert.equal(budgetExceeded(100, 100, 100), false);
});

test('startable: concurrency and at most N hosts per label value at once', () => {
  const h = (name: string, rack: string): { name: string; labels: Record<string, string> } => ({ name, labels: { rack } });
  const waiting = [h('a1', 'a'), h('a2', 'a'), h('b1', 'b'), h('c1', 'c'), h('b2', 'b')];
  assert.deepEqual(
    startable(waiting, [], 10, { rack: 1 }).map((x) => x.name),
    ['a1', 'b1', 'c1'],
  );
  assert.deepEqual(
    startable(waiting, [h('a0', 'a')], 10, { rack: 1 }).map((x) => x.name),
    ['b1', 'c1'],
  );
  assert.deepEqual(
    startable(waiting, [], 2, {}).map((x) => x.name),
    ['a1', 'a2'],
  );
  assert.deepEqual(
    startable(waiting, [], 10, { rack: 2 }).map((x) => x.name),
    ['a1', 'a2', 'b1', 'c1', 'b2'],
  );
});

test('--limit: names with globs, groups, label=value, !exclude, &intersect', () => {
  const hs = [
    { name: 'hv001', groups: ['canary'], labels: { zone: 'z1', rack: 'r1' } },
    { name: 'hv002', groups: [], labels: { zone: 'z1', rack: 'r2' } },
    { name: 'hv101', groups: ['gpu'], labels: { zone: 'z2', rack: 'r1' } },
  ];
  const pick = (e: string): string[] => applyLimit(hs, e).map((h) => h.name);
  assert.deepEqual(pick('hv00*'), ['hv001', 'hv002']);
  assert.deepEqual(pick('canary,gpu'), ['hv001', 'hv101']);
  assert.deepEqual(pick('zone=z1:!canary'), ['hv002']);
  assert.deepEqual(pick('rack=r1,&zone=z2'), ['hv101']);
  assert.deepEqual(pick('!hv002'), ['hv001', 'hv101']);
  assert.deepEqual(pick('nothing'), []);
  assert.throws(() => applyLimit(hs, 'a,,b'), /empty term/);
  assert.throws(
    () => applyLimit(hs, 'a,,b'),
    (e: LiveupdateError) => e.code === 'USAGE',
    'a user mistake (exit 64), not a bug',
  );
});

test('inventory: groups and defaults fill hosts; host fields win; paths are relative to the file', () => {
  const r = parseInventory(
    '/srv/fleet/inv.yaml',
    `version: 1
defaults: {user: ops, profile: profiles/pmem.yaml, labels: {dc: ams}}
groups:
  rack-a: {port: 2222, labels: {rack: a}}
hosts:
  - {name: hv1, address: 10.0.0.1, groups: [rack-a]}
  - {name: hv2, port: 22, profile: /etc/lu/other.yaml, labels: {rack: b}}
rollout: {serial: [1, "50%"], maxFailPercentage: 10, maxPerLabel: {rack: 1}, healthGate: {command: [/bin/true], timeout: 30s, checkTimeout: 45s}}
`,
  );
  assert.deepEqual(r.errors, []);
  const [a, b] = r.value!.hosts;
  assert.deepEqual(
    [a!.user, a!.port, a!.address, a!.profile, a!.labels],
    ['ops', 2222, '10.0.0.1', '/srv/fleet/profiles/pmem.yaml', { dc: 'ams', rack: 'a' }],
  );
  assert.deepEqual(
    [b!.port, b!.address, b!.profile, b!.labels, b!.hostname],
    [22, 'hv2', '/etc/lu/other.yaml', { dc: 'ams', rack: 'b' }, 'hv2'],
  );
  assert.deepEqual(r.value!.rollout.healthGate, { command: ['/bin/true'], timeoutMs: 30_000, intervalMs: 2000, checkTimeoutMs: 45_000 });
  assert.equal(r.value!.rollout.connectRate, 10);
});

test('inventory errors name file, line, column and field', () => {
  const cases: Array<[string, RegExp]> = [
    ['version: 1\nhosts:\n  - {name: hv1, profile: p.yaml, port: 70000}\n', /^i\.yaml:3:40: hosts\[0\]\.port: must be a TCP port/],
    ['version: 1\nhosts:\n  - {name: hv1}\n', /^i\.yaml:3:5: hosts\[0\]\.profile: no profile for hv1/],
    ['version: 1\nhosts:\n  - {name: hv1, profile: p, groups: [nope]}\n', /^i\.yaml:3:38: hosts\[0\]\.groups\[0\]: no group 'nope'/],
    [
      'version: 1\ndefaults: {profile: p}\nhosts:\n  - {name: hv1}\n  - {name: hv1}\n',
      /^i\.yaml:5:12: hosts\[1\]\.name: 'hv1' is already hosts\[0\]/,
    ],
    [
      'version: 1\ndefaults: {profile: p}\nhosts: [{name: a}]\nrollout: {serial: "ten"}\n',
      /^i\.yaml:4:19: rollout\.serial: must be a host count, a percentage/,
    ],
    ['version: 1\nhosts: [{name: a, profile: p, colour: red}]\n', /^i\.yaml:2:31: hosts\[0\]\.colour: unknown field 'colour'/],
    ['version: 1\nhosts: [{name: "bad name", profile: p}]\n', /hosts\[0\]\.name: must be a host name/],
    ['version: 1\nhosts: [\n', /^i\.yaml:3:1: /],
    [
      'version: 1\nhosts: [{name: a, profile: p}]\nrollout: {healthGate: {command: [x], checkTimeout: 0s}}\n',
      /^i\.yaml:3:52: rollout\.healthGate\.checkTimeout: must be a duration like 30s/,
    ],
    // addresses (issue 18, class 9): checked, and one machine never listed twice
    [
      'version: 1\nhosts: [{name: a, profile: p, address: "-oProxyCommand=x"}]\n',
      /^i\.yaml:2:40: hosts\[0\]\.address: '-oProxyCommand=x' is neither an IP address nor a DNS name/,
    ],
    [
      'version: 1\nhosts: [{name: a, profile: p, address: "10.0.0.1 10.0.0.2"}]\n',
      /hosts\[0\]\.address: '10\.0\.0\.1 10\.0\.0\.2' is neither/,
    ],
    [
      'version: 1\ndefaults: {profile: p}\nhosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.1, port: 22}\n',
      /^i\.yaml:5:24: hosts\[1\]\.address: 10\.0\.0\.1 port 22 is already hosts\[0\] \(a\): one machine would be updated twice at once/,
    ],
    [
      'version: 1\ndefaults: {profile: p}\nhosts:\n  - {name: hv1.example}\n  - {name: b, address: HV1.example}\n',
      /hosts\[1\]\.address: HV1\.example port 22 is already hosts\[0\] \(hv1\.example\)/,
    ],
    // numbers bounded (issue 18, class 7): a rate of 1e-8 spun, a gate interval of 0 polled without pause
    [
      'version: 1\nhosts: [{name: a, profile: p}]\nrollout: {connectRate: 0.00000001}\n',
      /^i\.yaml:3:24: rollout\.connectRate: must be new SSH connections per second, from 0\.01 to 10000/,
    ],
    [
      'version: 1\nhosts: [{name: a, profile: p}]\nrollout: {healthGate: {command: [x], interval: 1ms}}\n',
      /^i\.yaml:3:48: rollout\.healthGate\.interval: must be between 10ms and 1440m/,
    ],
    [
      'version: 1\nhosts: [{name: a, profile: p}]\nrollout: {healthGate: {command: [x], timeout: 100000m}}\n',
      /^i\.yaml:3:47: rollout\.healthGate\.timeout: must be between 10ms and 1440m/,
    ],
  ];
  for (const [text, re] of cases) {
    const r = parseInventory('i.yaml', text);
    assert.equal(r.value, undefined, text);
    const line = r.errors.map((e) => `${e.where}: ${e.field ? `${e.field}: ` : ''}${e.message}`).join('\n');
    assert.match(line, re);
  }
});

test('fleet journal: a torn last line is dropped; an unreadable line before it, or another format, is refused', () => {
  const dir = tempDir('/tmp/lu-fleet-journal-');
  const j = FleetJournal.create(dir, 'r1');
  j.begin({ runId: 'r1', at: 1, inventory: 'inv.yaml', batches: [['a']], maxFailPercentage: 0 });
  j.record({ type: 'host-start', host: 'a', batch: 0 });
  j.close();
  appendFileSync(j.file, '{"type":"host-end","ho');
  assert.deepEqual(
    readFleetRecords(j.file).map((r) => r.type),
    ['fleet', 'host-start'],
  );
  appendFileSync(j.file, '\n{"type":"done","at":3,"ok":true}\n');
  assert.throws(
    () => readFleetRecords(j.file),
    (e: LiveupdateError) => e.code === 'JOURNAL_CONFLICT' && /fleet\.journal:3: unreadable fleet journal record/.test(e.message),
  );
  writeFileSync(
    j.file,
    JSON.stringify({ type: 'fleet', format: 9, runId: 'r1', at: 1, inventory: 'i', batches: [], maxFailPercentage: 0 }) + '\n',
  );
  assert.throws(() => readFleetRecords(j.file), /fleet run r1 was journaled in format 9; this liveupdate reads format 2/);
  // format 1, before the journal was the fleet's event log: refused with what to do
  writeFileSync(
    j.file,
    JSON.stringify({ t: 'fleet-run', format: 1, runId: 'r0', at: 1, inventory: 'i', batches: [], maxFailPercentage: 0 }) + '\n',
  );
  assert.throws(
    () => readFleetRecords(j.file),
    (e: LiveupdateError) =>
      /fleet run r0 was journaled in format 1; this liveupdate reads format 2/.test(e.message) &&
      /the liveupdate version that started it/.test(e.hint ?? ''),
  );
});

test('fleet journal: replayed, the run is what its events said (a resume clears the stop; done only when recorded)', () => {
  const dir = tempDir('/tmp/lu-fleet-journal-');
  const j = FleetJournal.create(dir, 'r2');
  j.begin({ runId: 'r2', at: 1, inventory: 'inv.yaml', batches: [['a', 'b']], maxFailPercentage: 0 });
  j.record({ type: 'fleet-run', runId: 'r2', hosts: 2, batches: [['a', 'b']], resumed: false });
  j.record({ type: 'host-start', host: 'a', batch: 0 });
  j.record({ type: 'host-start', host: 'b', batch: 0 });
  j.record({ type: 'host-end', host: 'a', batch: 0, state: 'failed', blackouts: [], ms: 5, error: 'boom' });
  j.record({ type: 'stopped', reason: 'budget' });
  j.record({ type: 'done', ok: false });
  let st = fleetState(readFleetRecords(j.file));
  assert.deepEqual(
    { stopped: st.stopped, done: st.done, started: [...st.started], a: st.ended.get('a') },
    { stopped: 'budget', done: false, started: ['b'], a: { host: 'a', batch: 0, state: 'failed', blackouts: [], ms: 5, error: 'boom' } },
  );
  j.record({ type: 'fleet-run', runId: 'r2', hosts: 2, batches: [['a', 'b']], resumed: true });
  st = fleetState(readFleetRecords(j.file));
  assert.deepEqual({ stopped: st.stopped, done: st.done, runId: st.run?.runId }, { stopped: undefined, done: undefined, runId: 'r2' });
  j.close();
});

test("inventory paths: ~/ is the operator's home (as in a shell), others are relative to the inventory", () => {
  const r = parseInventory(
    '/srv/fleet/inv.yaml',
    'version: 1\ndefaults: {profile: hv.yaml, knownHosts: ~/.ssh/known_hosts, identity: "~"}\nhosts: [{name: a, facts: ./a.json}]\n',
  );
  assert.deepEqual(r.errors, []);
  const [a] = r.value!.hosts;
  assert.equal(a!.knownHosts, join(homedir(), '.ssh/known_hosts'));
  assert.equal(a!.identity, homedir());
  assert.equal(a!.profile, '/srv/fleet/hv.yaml');
  assert.equal(a!.facts, '/srv/fleet/a.json');
});

test('inventory become: from defaults or a group, a host may turn it off; a non-boolean is refused at its line', () => {
  const r = parseInventory(
    '/i.yaml',
    'version: 1\ndefaults: {profile: hv.yaml, user: ops, become: true}\ngroups: {direct: {become: false, user: root}}\nhosts: [{name: a}, {name: b, groups: [direct]}]\n',
  );
  assert.deepEqual(r.errors, []);
  const [a, b] = r.value!.hosts;
  assert.equal(a!.become, true);
  assert.equal(b!.become, undefined);
  const bad = parseInventory('/i.yaml', 'version: 1\ndefaults: {profile: hv.yaml}\nhosts:\n  - {name: a, become: "yes"}\n');
  assert.match(
    bad.errors.map((e) => `${e.where} ${e.field}: ${e.message}`).join('\n'),
    /\/i\.yaml:4:\d+ hosts\[0\]\.become: must be true or false/,
  );
});

test('fleet plan says which hosts must reboot before their update (a carve-out not active yet), not just a step count', async () => {
  // planned from saved facts (no SSH): the shipped pmem profile on a host whose boot lacks the carve-out
  const dir = tempDir('/tmp/lu-fleet-reboot-');
  const inv = parseInventory(
    join(dir, 'inv.yaml'),
    `version: 1\nhosts:\n  - {name: pmem-host, profile: ${ROOT}/profiles/pmem-stock.yaml, facts: ${ROOT}/profiles/facts/pmem-host.json}\n`,
  );
  assert.deepEqual(inv.errors, []);
  const r = await planFleet(inv.value!, undefined, 1);
  assert.match(r.hosts[0]!.rebootFirst ?? '', /^prepare\/carve-out-cmdline: reboot the host so the carve-out takes effect/);
  const text = renderFleetPlan(r);
  assert.match(text, /pmem-host {2}batch 1 {2}\d+\/\d+ step\(s\) to do, \d+ in the blackout\n {4}REBOOT FIRST: prepare\/carve-out-cmdline/);
  assert.match(text, /1 host\(s\) need a reboot before their update/);
});

test('one machine is one host: two spellings of one address in an inventory are refused like the same spelling twice', () => {
  for (const [a, b] of [
    ['127.0.0.1', '::ffff:127.0.0.1'],
    ['::1', '0:0:0:0:0:0:0:1'],
    ['fe80::1', 'FE80:0:0:0:0:0:0:1'],
  ]) {
    const r = parseInventory(
      '/srv/i.yaml',
      `version: 1\ndefaults: {profile: p}\nhosts:\n  - {name: a, address: "${a}"}\n  - {name: b, address: "${b}"}\n`,
    );
    assert.equal(r.value, undefined, `${a} and ${b}`);
    assert.match(JSON.stringify(r.errors), /one machine would be updated twice at once/, `${a} and ${b}`);
  }
});

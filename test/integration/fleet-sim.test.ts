// Fleet runs at scale against the fleet simulator (test/helpers/fleet-sim.ts: a TEST DOUBLE — one
// ssh2 server playing every host, each phase one simulated command). Real here: the fleet runner
// (batches, label caps, failure budget, fleet journal, --resume) and the SSH on both ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FleetHost, Inventory } from '../../src/fleet/inventory.js';
import { readFleetRecords } from '../../src/fleet/journal.js';
import type { FleetEvent } from '../../src/fleet/events.js';
import { runFleet } from '../../src/fleet/run.js';
import { startFleetSim, simUpdater, type FleetSim } from '../helpers/fleet-sim.js';
import { tempDir } from '../helpers/temp.js';

function inventory(
  sim: FleetSim,
  n: number,
  rollout: Partial<Inventory['rollout']>,
  labels: (i: number) => Record<string, string> = () => ({}),
): Inventory {
  const hosts: FleetHost[] = Array.from({ length: n }, (_, i) => {
    const name = `h${String(i).padStart(4, '0')}`;
    return {
      name,
      address: '127.0.0.1',
      port: sim.port,
      user: name,
      profile: '/dev/null',
      hostname: name,
      groups: [],
      labels: labels(i),
      where: `inv.yaml:${i + 3}:5`,
    };
  });
  return {
    file: 'inv.yaml',
    hosts,
    rollout: {
      serial: undefined,
      concurrency: undefined,
      maxFailPercentage: 0,
      maxPerLabel: {},
      connectRate: 1000,
      vmmOnly: false,
      phases: 'all',
      ...rollout,
    },
  };
}

test(
  '1000 hosts: canary, then 10, then 10% at a time; 6 failures in a batch of 100 exceed 5% and stop it; --resume finishes',
  { timeout: 600_000 },
  async () => {
    const sim = await startFleetSim({ latencyMs: 30 });
    try {
      const inv = inventory(sim, 1000, { serial: [1, 10, '10%'], concurrency: 50, maxFailPercentage: 5 });
      const batch3 = inv.hosts.slice(11, 111).map((h) => h.name);
      // the first six of batch 3 fail at suspend: they end before any host that succeeds
      for (const n of batch3.slice(0, 6)) sim.faults.set(n, { failPhase: 'suspend' });
      const fleetDir = tempDir('/var/tmp/lu-fleet-');
      const events: FleetEvent[] = [];
      const r = await runFleet({ inventory: inv, fleetDir, update: simUpdater(sim), emit: (e) => events.push(e) });

      const run = events.find((e) => e.type === 'fleet-run');
      assert.ok(run?.type === 'fleet-run');
      assert.deepEqual(
        run.batches.map((b) => b.length),
        [1, 10, ...Array<number>(9).fill(100), 89],
      );
      assert.equal(r.ok, false);
      assert.match(r.stopped!, /^batch 3: 6 of 100 host\(s\) failed, more than maxFailPercentage 5%/);
      const state = new Map(r.hosts.map((h) => [h.host, h.state]));
      assert.ok(
        inv.hosts.slice(0, 11).every((h) => state.get(h.name) === 'ok'),
        'canary and batch 2 ok',
      );
      // concurrency 50: the first 50 of batch 3 started; each of the first 5 failures (5% is not
      // exceeded yet) freed a slot for one more; the 6th exceeded the budget: nobody else started
      assert.deepEqual(
        batch3.filter((n) => sim.connections.has(n)),
        batch3.slice(0, 55),
      );
      assert.equal(batch3.filter((n) => state.get(n) === 'failed').length, 6);
      assert.equal(batch3.filter((n) => state.get(n) === 'ok').length, 49);
      assert.ok(
        inv.hosts.slice(111).every((h) => !sim.connections.has(h.name) && state.get(h.name) === 'not-started'),
        'nothing past the stop was touched',
      );
      assert.ok(
        [...sim.connections.values()].every((c) => c === 1),
        'one SSH connection per host',
      );
      const failed = r.hosts.find((h) => h.host === batch3[0]);
      assert.equal(failed?.phaseReached, 'prepare');
      assert.match(failed.error!, /suspend\/sim: sim: h0011 fails suspend/);

      // the journal has it all; --resume skips the hosts that finished
      const recs = readFleetRecords(join(fleetDir, r.runId, 'fleet.journal'));
      assert.equal(recs.filter((x) => x.type === 'host-end').length, 66);
      assert.ok(recs.some((x) => x.type === 'stopped'));
      sim.faults.clear();
      const resumed = await runFleet({ inventory: inv, fleetDir, resume: r.runId, update: simUpdater(sim), emit: () => undefined });
      assert.equal(resumed.ok, true, resumed.stopped ?? JSON.stringify(resumed.hosts.filter((h) => h.state !== 'ok').slice(0, 5)));
      assert.equal(resumed.hosts.length, 1000);
      assert.ok(resumed.hosts.every((h) => h.state === 'ok'));
      assert.equal(resumed.hosts.filter((h) => h.earlier).length, 60, 'the 60 that finished were not run again');
      assert.ok(inv.hosts.slice(0, 11).every((h) => sim.connections.get(h.name) === 1));
      assert.ok(
        batch3.slice(0, 6).every((n) => sim.connections.get(n) === 2),
        'the failed ones were run again',
      );
      assert.ok(inv.hosts.slice(111).every((h) => sim.connections.get(h.name) === 1));
      const last = readFleetRecords(join(fleetDir, r.runId, 'fleet.journal')).at(-1);
      assert.deepEqual(last && { type: last.type, ok: last.type === 'done' && last.ok }, { type: 'done', ok: true });
    } finally {
      await sim.close();
    }
  },
);

test(
  '200 hosts in 25% batches: an unreachable host counts as failed; budget 0 stops at once; at most one host per rack at a time',
  { timeout: 300_000 },
  async () => {
    const sim = await startFleetSim({ latencyMs: 20 });
    try {
      const inv = inventory(sim, 200, { serial: '25%', concurrency: 10, maxFailPercentage: 0, maxPerLabel: { rack: 1 } }, (i) => ({
        rack: `r${i % 20}`,
      }));
      sim.faults.set('h0050', { unreachable: true });
      const fleetDir = tempDir('/var/tmp/lu-fleet-');
      let running = new Map<string, string>();
      let overlap = false;
      const r = await runFleet({
        inventory: inv,
        fleetDir,
        update: simUpdater(sim),
        emit: (e) => {
          if (e.type === 'host-start') {
            const rack = inv.hosts.find((h) => h.name === e.host)!.labels['rack']!;
            if ([...running.values()].includes(rack)) overlap = true;
            running.set(e.host, rack);
          }
          if (e.type === 'host-end') running.delete(e.host);
          if (e.type === 'batch-end') running = new Map();
        },
      });
      assert.equal(overlap, false, 'two hosts of one rack updated at once');
      const h50 = r.hosts.find((h) => h.host === 'h0050')!;
      assert.equal(h50.state, 'unreachable');
      assert.match(h50.error!, /authentication failed/);
      assert.match(r.stopped!, /^batch 2: 1 of 50 host\(s\) failed, more than maxFailPercentage 0%/);
      assert.ok(r.hosts.slice(0, 50).every((h) => h.state === 'ok'));
      // h0050 fails at once; the other 9 started with it (one per rack) finish; nobody else starts
      const started = r.hosts
        .slice(50, 100)
        .filter((h) => h.state !== 'not-started')
        .map((h) => h.host);
      assert.deepEqual(started, ['h0050', 'h0051', 'h0052', 'h0053', 'h0054', 'h0055', 'h0056', 'h0057', 'h0058', 'h0059']);
      assert.ok(r.hosts.slice(100).every((h) => h.state === 'not-started' && !sim.connections.has(h.host)));
      assert.ok(existsSync(join(fleetDir, r.runId, 'fleet.journal')));
      sim.faults.clear();
      const resumed = await runFleet({ inventory: inv, fleetDir, resume: r.runId, update: simUpdater(sim), emit: () => undefined });
      assert.equal(resumed.ok, true);
      assert.equal(resumed.hosts.filter((h) => h.earlier).length, 59);
      assert.ok(JSON.parse(JSON.stringify(resumed)), 'the result is plain JSON');
    } finally {
      await sim.close();
    }
  },
);

// followAgent (src/app/agent.ts) against this machine (LocalHost: its real shell): a spool and a
// journal written as the agent writes them, the agent itself absent (its result already there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { followAgent } from '../../../src/app/agent.js';
import { LocalHost } from '../../../src/host/local.js';
import type { ExecEvent } from '../../../src/exec/events.js';
import { tempDir } from '../../helpers/temp.js';

test('a journal that is new since the mark, with the result already written: every step event is read before the result', async () => {
  const dir = tempDir('/tmp/lu-follow-');
  try {
    const journal = join(dir, 'host.journal');
    const spool = join(dir, 'spool');
    const step = { id: 'suspend/stop/vm1', phase: 'suspend', vm: 'vm1', blackout: true };
    writeFileSync(
      journal,
      [
        { type: 'run', format: 2, runId: 'r1', at: 1, host: 'h', profile: 'p', backend: 'pmem', bootId: 'b', vms: [] },
        { ...step, type: 'step-start', at: 2 },
        { ...step, type: 'step-end', at: 3, ms: 1, result: 'ok' },
        { type: 'done', at: 4, how: 'resumed' },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    );
    // the agent finished before the first poll (a fast VMM-only run): its result is there already
    mkdirSync(spool);
    writeFileSync(
      join(spool, 'result.json'),
      JSON.stringify({
        requestId: 'q',
        at: 5,
        bootId: 'b',
        state: 'finished',
        ok: true,
        failures: [],
        fromJournal: [],
        blackouts: [],
        runId: 'r1',
      }),
    );
    const events: ExecEvent[] = [];
    // the mark was taken before the agent began its journal: no file then
    const r = await followAgent(
      new LocalHost(),
      spool,
      journal,
      { inode: 'none', offset: 0 },
      { emit: (e) => events.push(e), silenceMs: 10_000, pollMs: 10 },
    );
    assert.equal(r.state, 'result');
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.id}`),
      ['step-start suspend/stop/vm1', 'step-end suspend/stop/vm1'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

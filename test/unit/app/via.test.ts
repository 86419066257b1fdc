// Who runs the steps (src/app/update.ts viaAgent): pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { viaAgent } from '../../../src/app/update.js';
import type { LiveupdateError } from '../../../src/errors.js';

test('with --host the on-host agent runs the plan unless --via ssh; on this machine the executor runs here unless --agent', () => {
  assert.equal(viaAgent({ remote: true }), true);
  assert.equal(viaAgent({ remote: true, via: 'ssh' }), false);
  assert.equal(viaAgent({ remote: true, via: 'agent' }), true);
  assert.equal(viaAgent({ remote: true, agent: true }), true);
  assert.equal(viaAgent({ remote: false }), false);
  assert.equal(viaAgent({ remote: false, agent: true }), true);
  assert.equal(viaAgent({ remote: false, via: 'agent' }), true);
});

test('contradictions and unknown values are usage errors that say what to do', () => {
  const usage = (re: RegExp) => (e: LiveupdateError) => e.code === 'USAGE' && re.test(e.message);
  assert.throws(() => viaAgent({ remote: true, via: 'telnet' }), usage(/--via telnet: expected agent or ssh/));
  assert.throws(() => viaAgent({ remote: true, via: 'ssh', agent: true }), usage(/contradict/));
  assert.throws(() => viaAgent({ remote: false, via: 'ssh' }), usage(/--via ssh needs --host/));
});

// Pure logic: the wildcard matcher `--limit` and known_hosts patterns use (src/glob.ts), against a
// regular-expression oracle on generated inputs (fast-check), and on the input that made the old
// regex-based matcher backtrack for over 30 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { globMatch } from '../../../src/glob.js';
import { applyLimit } from '../../../src/fleet/limit.js';
import { verifyHostKey } from '../../../src/host/known-hosts.js';

const oracle = (pattern: string, name: string): boolean =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  ).test(name);

test('globMatch agrees with the regex reading of * and ? (small alphabet, so that stars meet repeats)', () => {
  const ch = fc.constantFrom('a', 'b', '.', '-');
  fc.assert(
    fc.property(fc.array(fc.oneof(ch, fc.constant('*'), fc.constant('?')), { maxLength: 8 }), fc.array(ch, { maxLength: 12 }), (p, n) => {
      const pattern = p.join('');
      const name = n.join('');
      assert.equal(globMatch(pattern, name), oracle(pattern, name), `${pattern} vs ${name}`);
    }),
    { numRuns: 3000 },
  );
});

test('regex metacharacters are literal', () => {
  assert.equal(globMatch('h(1)', 'h(1)'), true);
  assert.equal(globMatch('a.b', 'axb'), false);
  assert.equal(globMatch('[ab]', 'a'), false);
  assert.equal(globMatch('', ''), true);
  assert.equal(globMatch('*', ''), true);
  assert.equal(globMatch('?', ''), false);
});

test('14 stars against a long name that almost matches: answered, not backtracked for ever', { timeout: 10_000 }, () => {
  const name = 'a'.repeat(5000);
  const pattern = `${'*a'.repeat(14)}b`;
  assert.equal(globMatch(pattern, name), false);
  assert.equal(globMatch(pattern, `${name}b`), true);
  // through the callers
  const hosts = [{ name, groups: [], labels: { rack: name } }];
  assert.deepEqual(applyLimit(hosts, pattern), []);
  assert.deepEqual(applyLimit(hosts, `rack=${pattern}`), []);
  assert.equal(verifyHostKey(`${pattern} ssh-ed25519 AAAA\n`, name, 'ssh-ed25519', Buffer.from('x')).kind, 'unknown');
});

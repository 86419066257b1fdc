// The front door (pure: reads README.md as text): short, no commit hashes (figures and history live
// in DEVELOPMENT.md and BENCHMARKS.md), exactly the two set-up commands, and every link it gives
// goes to a file that exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

test('the README reads in minutes: at most 250 lines', () => {
  assert.ok(readme.split('\n').length <= 250, `${readme.split('\n').length} lines`);
});

test('the README names no commit: no word of 7 to 40 hex digits (boot ids aside)', () => {
  const words = readme
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '')
    .match(/\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b/g);
  assert.deepEqual(words ?? [], []);
});

test("the README's set-up commands are the two the brief names: the demo, and the whole test suite", () => {
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
  assert.equal(blocks[0], 'npm ci && npm run build && ./bin/liveupdate.js demo');
  assert.equal(blocks[1], 'scripts/test');
  assert.equal(readFileSync(join(ROOT, '.ci/run'), 'utf8').trim().split('\n').at(-1), 'exec bash scripts/test');
});

test('every link in the README goes to a file that exists', () => {
  const links = [...readme.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^https?:/.test(l));
  assert.ok(links.length > 5);
  for (const l of links) assert.ok(existsSync(join(ROOT, l)), l);
});

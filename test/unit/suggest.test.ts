// Pure logic: what a mistyped flag or field most likely meant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closest, editDistance } from '../../src/suggest.js';

test('one edit, a swap of two letters, case and snake_case are close; a different word is not', () => {
  assert.equal(editDistance('--fatcs', '--facts'), 1);
  assert.equal(closest('--profle', ['--profile', '--facts', '--phase']), '--profile');
  assert.equal(closest('--fatcs', ['--profile', '--facts']), '--facts');
  assert.equal(closest('ramfile', ['name', 'memory', 'ramFile']), 'ramFile');
  assert.equal(closest('max_fail_percentage', ['serial', 'maxFailPercentage']), 'maxFailPercentage');
  assert.equal(closest('ansible_host', ['name', 'address', 'port']), 'address');
  assert.equal(closest('--zzz', ['--profile', '--facts']), undefined);
  assert.equal(closest('x', ['y']), 'y', 'one letter: one edit away');
  assert.equal(closest('colour', []), undefined);
});

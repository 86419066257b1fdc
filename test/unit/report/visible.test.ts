// What a reviewer sees is what runs (src/report/visible.ts), pure logic: generated text with every
// kind of control and reordering character comes out with none of them, and with the same meaning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { visible } from '../../../src/report/visible.js';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const OWN_SGR = /\x1b\[(1|2|22)m/g;
const hostile = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '\x1b[8m',
        '\x1b[2K',
        '\r',
        '\x1b]0;title\x07',
        '\u202e',
        '\u2066',
        '\x9b',
        '\x7f',
        '\x1b[1m',
        '\x1b[22m',
        '\n',
        '\t',
        'é',
        'x',
      ),
      fc.string(),
    ),
    { maxLength: 12 },
  )
  .map((p) => p.join(''));

test('no control, escape or bidi character passes, colour or not, except newline, tab and our own bold/dim on a colour terminal', () => {
  fc.assert(
    fc.property(hostile, (text) => {
      assert.doesNotMatch(visible(text), UNSAFE);
      assert.doesNotMatch(visible(text, true).replace(OWN_SGR, ''), UNSAFE);
      // newlines and tabs are the layout: they stay
      assert.equal(visible(text).split('\n').length, text.split('\n').length);
    }),
    { numRuns: 2000 },
  );
});

test('each hidden character is shown as its escape', () => {
  assert.equal(visible('a\x1b[8mhidden'), 'a\\x1b[8mhidden');
  assert.equal(visible('evil\u202etxt.exe'), 'evil\\u202etxt.exe');
  assert.equal(visible('\x1b[1mbold\x1b[22m', true), '\x1b[1mbold\x1b[22m');
  assert.equal(visible('\x1b[1mbold\x1b[22m'), '\\x1b[1mbold\\x1b[22m');
});

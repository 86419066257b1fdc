// The kernel's command line as the kernel reads it (src/kernel-cmdline.ts), and what liveupdate
// composes for the next kernel (src/plan/cmdline.ts) through the profile's and the facts' rules.
// Pure logic. The oracle is `kernelNextArg` below: lib/cmdline.c's next_arg and kernel/params.c's
// `--` rule transcribed line by line over a NUL-terminated byte array, as the kernel runs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { LiveupdateError } from '../../src/errors.js';
import { readFactsFile } from '../../src/facts/file.js';
import type { HostFacts } from '../../src/facts/types.js';
import { kernelWords, notOneParam, parseKernelCmdline } from '../../src/kernel-cmdline.js';
import { composeKexecCmdline } from '../../src/plan/cmdline.js';
import { makePlan } from '../../src/plan/planner.js';
import { parseProfile } from '../../src/profile/load.js';
import { ROOT } from '../helpers/paths.js';

/** lib/ctype.c: _S (space) for 9-13, 32 and 160. */
const isspace = (b: number): boolean => (b >= 9 && b <= 13) || b === 32 || b === 160;
const str = (buf: number[], at: number): string => {
  const end = buf.indexOf(0, at);
  return Buffer.from(buf.slice(at, end < 0 ? buf.length : end)).toString('utf8');
};

/** parse_args over next_arg, as the kernel runs them: the params it sees (param[=val]) and whether `--` ended them. */
function kernelNextArg(line: string): { params: Array<[string, string | null]>; terminated: boolean } {
  const buf = [...Buffer.from(line, 'utf8'), 0];
  let args = 0;
  while (isspace(buf[args]!)) args++;
  const params: Array<[string, string | null]> = [];
  while (buf[args] !== 0) {
    // next_arg(args, &param, &val)
    let i: number;
    let equals = 0;
    let inQuote = 0;
    let quoted = 0;
    if (buf[args] === 0x22) {
      args++;
      inQuote = 1;
      quoted = 1;
    }
    for (i = 0; buf[args + i] !== 0; i++) {
      if (isspace(buf[args + i]!) && !inQuote) break;
      if (equals === 0) if (buf[args + i] === 0x3d) equals = i;
      if (buf[args + i] === 0x22) inQuote = inQuote ? 0 : 1;
    }
    const param = args;
    let val: number | null;
    if (!equals) val = null;
    else {
      buf[args + equals] = 0;
      val = args + equals + 1;
      if (buf[val] === 0x22) {
        val++;
        if (buf[args + i - 1] === 0x22) buf[args + i - 1] = 0;
      }
    }
    if (quoted && i > 0 && buf[args + i - 1] === 0x22) buf[args + i - 1] = 0;
    if (buf[args + i] !== 0) {
      buf[args + i] = 0;
      args += i + 1;
    } else args += i;
    while (isspace(buf[args]!)) args++;
    // parse_args: stop at --
    if (val === null && str(buf, param) === '--') return { params, terminated: true };
    params.push([str(buf, param), val === null ? null : str(buf, val)]);
  }
  return { params, terminated: false };
}

const pieces = fc.constantFrom(
  'a',
  'b=1',
  'memmap=256M!1G',
  '"',
  '=',
  ' ',
  '\t',
  '\n',
  '\u00a0',
  '--',
  'x"y z"',
  'é',
  'quiet',
  '"--"',
  '=v',
);
const lines = fc.array(pieces, { maxLength: 14 }).map((p) => p.join(''));

test('parsed as the kernel parses it: every generated line, name and value, and where -- ends the parameters', () => {
  fc.assert(
    fc.property(lines, (line) => {
      const ours = parseKernelCmdline(line);
      const kernel = kernelNextArg(line);
      assert.deepEqual(
        ours.params.map((p) => [p.name, p.value ?? null]),
        kernel.params,
      );
      assert.equal(ours.terminated, kernel.terminated);
    }),
    { numRuns: 2000 },
  );
});

test('the kernel, not JavaScript, says what a space is, and a quoted -- ends the parameters too', () => {
  assert.deepEqual(kernelWords('a=1\u2028b c'), ['a=1\u2028b', 'c'], 'U+2028 is no space to the kernel');
  assert.equal(parseKernelCmdline('x=1\u00a0y').params.length, 2, 'byte 0xA0 (half of a UTF-8 no-break space) is');
  assert.deepEqual(kernelWords('root=/dev/vda "--" memmap=256M!1G'), ['root=/dev/vda']);
  assert.deepEqual(kernelWords('a="b c" d'), ['a="b c"', 'd']);
});

test('one parameter, or why not', () => {
  assert.equal(notOneParam('mitigations=off'), undefined);
  assert.equal(notOneParam('dyndbg="file x.c +p"'), undefined);
  assert.match(notOneParam('--')!, /ends the kernel's parameters/);
  assert.match(notOneParam('"--"')!, /ends the kernel's parameters/);
  assert.match(notOneParam('foo="bar')!, /opens a double quote/);
  assert.match(notOneParam('a\u00a0b')!, /more than one parameter/);
  assert.match(notOneParam('a\u001b[8mb')!, /control character/);
});

const STOCK = `version: 1\nhost: {name: pmem-host}\npersistence: {backend: pmem, size: 256M, offset: 1G, mount: /mnt/pmem}\nkexec:\n  kernel: /boot/vmlinuz\n  cmdline: CMDLINE\nvms: [{name: a, memory: 64M}]\n`;
const profileWith = (cmdline: object): ReturnType<typeof parseProfile> =>
  parseProfile('p.yaml', STOCK.replace('CMDLINE', JSON.stringify(cmdline)));
let facts: HostFacts;
const factsWith = async (cmdline: string): Promise<HostFacts> => {
  facts ??= await readFactsFile(join(ROOT, 'profiles', 'facts', 'pmem-host.json'));
  return { ...facts, cmdline };
};

test("the issue's example: append [--, quiet] would hand memmap= to init; it is refused at the field", () => {
  const r = profileWith({ append: ['--', 'quiet'] });
  assert.equal(r.value, undefined);
  assert.match(JSON.stringify(r.errors), /kexec\.cmdline\.append\[0\].*'--' is '--', which ends the kernel's parameters/);
});

test('a line that would hide the carve-out or move the memory map is refused, from the profile and from this boot', async () => {
  for (const append of [['foo="bar'], ['a\u00a0memmap=1G!4G'], ['mem=4G'], ['memmap=exactmap'], ['memmap=1G@4G'], ['max_addr=4G']]) {
    assert.equal(profileWith({ append }).value, undefined, JSON.stringify(append));
  }
  assert.equal(profileWith({ policy: 'replace', value: 'root=/dev/vda foo="bar' }).value, undefined);
  const ok = profileWith({ append: ['quiet'] });
  assert.ok(ok.value, JSON.stringify(ok.errors));
  for (const running of ['root=/dev/vda mem=4G', 'root=/dev/vda dyndbg="open']) {
    const f = await factsWith(running);
    assert.throws(
      () => makePlan({ profile: ok.value!, facts: f, phases: 'all', locate: ok.locate }),
      (e: unknown) => e instanceof LiveupdateError && /kexec\.cmdline/.test(JSON.stringify(e.diagnostics)),
      running,
    );
  }
  // removed by the profile, it is no longer this boot's problem
  const removing = profileWith({ remove: ['mem'] });
  assert.ok(removing.value);
  const plan = makePlan({
    profile: removing.value,
    facts: await factsWith('root=/dev/vda mem=4G'),
    phases: 'all',
    locate: removing.locate,
  });
  assert.ok(plan.steps.length > 0);
});

test('whatever the profile and this boot say, an accepted plan gives the next kernel every managed parameter before any --', async () => {
  const base = await factsWith('');
  const word = fc.array(pieces, { minLength: 1, maxLength: 5 }).map((p) => p.join(''));
  fc.assert(
    fc.property(fc.array(word, { maxLength: 4 }), lines, (append, running) => {
      const r = profileWith({ append });
      if (!r.value) return;
      let composed: string;
      try {
        makePlan({ profile: r.value, facts: { ...base, cmdline: running }, phases: 'all', locate: r.locate });
        composed = composeKexecCmdline(r.value, { ...r.value.persistence, offset: 2 ** 30 } as never, running).cmdline;
      } catch (e) {
        assert.ok(e instanceof LiveupdateError, `refused with a LiveupdateError, not ${String(e)}`);
        return;
      }
      const seen = kernelNextArg(composed).params.map(([k, v]) => (v === null ? k : `${k}=${v}`));
      assert.ok(seen.includes('memmap=256M!1G'), `the kernel would not see the carve-out in: ${JSON.stringify(composed)}`);
      for (const w of append)
        assert.ok(kernelWords(composed).includes(w), `${JSON.stringify(w)} is one parameter of ${JSON.stringify(composed)}`);
    }),
    { numRuns: 1500 },
  );
});

// The one reporter seam (src/report/reporter.ts), pure: captured streams stand in for the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { Style } from '../../../src/report/reporter.js';
import { makeReporter, styleFor } from '../../../src/report/style.js';
import { LiveupdateError } from '../../../src/errors.js';
import type { ExecEvent } from '../../../src/exec/events.js';
import type { Plan } from '../../../src/plan/types.js';
import { capturedStreams } from '../../helpers/run-cli.js';

function captured(style: Style): { r: ReturnType<typeof makeReporter>; out: () => string; err: () => string } {
  const c = capturedStreams();
  return { r: makeReporter(style, c.stdout, c.stderr), out: c.out, err: c.err };
}

// plain and JSON progress read only the events; the plan is for listr2's task list (a terminal)
const plan = { steps: [{ id: 'prepare/mount' }] } as unknown as Plan;
const end = (id: string): ExecEvent => ({
  type: 'step-end',
  id,
  phase: 'prepare',
  blackout: false,
  at: Date.UTC(2026, 0, 1, 12, 0, 0),
  ms: 12,
  result: 'ok',
});

test('the style: --json wins; listr2 only on a terminal outside CI', () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  assert.equal(styleFor(true, tty, {}), 'json');
  assert.equal(styleFor(false, tty, {}), 'tty');
  assert.equal(styleFor(false, tty, { CI: 'true' }), 'plain');
  assert.equal(styleFor(false, new PassThrough(), {}), 'plain');
});

test('plain: a line per finished step on stderr, none for a start; with `into`, the lines go there instead', () => {
  const c = captured('plain');
  const s = c.r.steps(plan);
  s.emit({ type: 'step-start', id: plan.steps[0]!.id, phase: 'prepare', blackout: false, at: 0 });
  s.emit(end(plan.steps[0]!.id));
  assert.equal(c.err(), `12:00:00.000 ✓ ${plan.steps[0]!.id} (12 ms)\n`);
  const into: string[] = [];
  c.r.steps(plan, (l) => into.push(l)).emit(end('x'));
  assert.deepEqual(into, ['12:00:00.000 ✓ x (12 ms)']);
  assert.equal(c.out(), '', 'progress never goes to stdout');
});

test('json: a format line, then every step event and stage as NDJSON on stdout; nothing on stderr', async () => {
  const c = captured('json');
  c.r.say('not for machines');
  c.r.steps(plan, () => assert.fail('no human lines in JSON mode')).emit(end('a'));
  await c.r.stages().run('stage one', 'seconds', () => Promise.resolve(1));
  const lines = c
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string });
  assert.deepEqual(
    lines.map((l) => l.type),
    ['format', 'step-end', 'stage-start', 'stage-end'],
  );
  assert.equal(c.err(), '');
});

test('json: an input error before any event is one JSON document with the warnings held so far, exit 64 for usage', () => {
  const c = captured('json');
  c.r.warn({ message: 'a warning' });
  const code = c.r.error(new LiveupdateError('USAGE', 'bad flag'));
  assert.equal(code, 64);
  const doc = JSON.parse(c.out()) as { type: string; code: string; warnings: Array<{ message: string }> };
  assert.equal(doc.type, 'error');
  assert.equal(doc.code, 'USAGE');
  assert.deepEqual(
    doc.warnings.map((w) => w.message),
    ['a warning'],
  );
});

test('a bug is exit 70 with its stack, in every style', () => {
  for (const style of ['plain', 'json'] as const) {
    const c = captured(style);
    assert.equal(c.r.error(new TypeError('boom')), 70);
    assert.match(c.out() + c.err(), /boom/);
  }
});

test('--no-color: a plan printed to a terminal carries no escape sequence, as with NO_COLOR; without it, the terminal gets its bold and dim', async () => {
  const { run } = await import('../../../src/cli/main.js');
  const printed = async (extra: string[]): Promise<string> => {
    const out = Object.assign(new PassThrough(), { isTTY: true });
    let s = '';
    out.on('data', (d: Buffer) => (s += d.toString()));
    const saved = process.env['NO_COLOR'];
    delete process.env['NO_COLOR'];
    try {
      const code = await run(['plan', '--profile', 'profiles/seed-pkernfs.yaml', '--facts', 'profiles/facts/seed-host.json', ...extra], {
        stdout: out,
        stderr: new PassThrough(),
      });
      assert.equal(code, 0);
    } finally {
      if (saved === undefined) delete process.env['NO_COLOR'];
      else process.env['NO_COLOR'] = saved;
    }
    return s;
  };
  assert.ok((await printed([])).includes('\x1b['), 'colour on a terminal');
  assert.ok(!(await printed(['--no-color'])).includes('\x1b['), 'none with --no-color');
});

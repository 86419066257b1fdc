// The real CLI (bin/liveupdate.js, the bundle a user runs) as a process: what each command runs
// before it does anything. The CLI is one bundle (scripts/bundle.sh) in which esbuild wraps every
// module that is imported lazily in an initialiser named after the module's path; V8's coverage of
// the run (NODE_V8_COVERAGE, call counts) says which initialisers ran. esbuild's metafile
// (dist/bundles/cli.meta.json) lists every module in the bundle: those with no initialiser run at
// every start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

interface Meta {
  outputs: Record<string, { inputs: Record<string, unknown> }>;
}
interface Coverage {
  result: Array<{ url: string; functions: Array<{ functionName: string; ranges: Array<{ count: number }> }> }>;
}
const meta = JSON.parse(readFileSync(join(ROOT, 'dist/bundles/cli.meta.json'), 'utf8')) as Meta;
const bundled = Object.keys(meta.outputs['dist/bundles/cli/liveupdate.cjs']!.inputs);

/** `node_modules/ajv/dist/runtime/x.js` -> ajv; `dist/src/plan/phases/a.js` -> src/plan */
const owner = (input: string): string => {
  const m = /(?:^|\/)node_modules\/((?:@[\w.-]+\/)?[\w.-]+)\/|^dist\/src\/([\w-]+)\//.exec(input);
  return m ? (m[1] ?? `src/${m[2]}`) : input;
};

/** The packages and source folders whose code `liveupdate ARGS` ran (with every module), and its exit code. */
function loaded(args: string[]): { code: number | null; stdout: string; contents: Set<string>; inputs: string[] } {
  const dir = tempDir(join(tmpdir(), 'lu-load-'));
  try {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NODE_V8_COVERAGE: dir },
    });
    const scripts = readdirSync(dir).flatMap((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as Coverage).result);
    const cli = scripts.filter((s) => s.url.endsWith('/dist/bundles/cli/liveupdate.cjs'));
    assert.equal(cli.length, 1, `the coverage has the CLI's bundle for ${args.join(' ')}`);
    const initialisers = cli[0]!.functions.filter((f) => bundled.includes(f.functionName));
    assert.ok(initialisers.length > 100, 'the bundle initialises most modules lazily');
    const lazy = new Set(initialisers.map((f) => f.functionName));
    const ran = new Set(initialisers.filter((f) => f.ranges[0]!.count > 0).map((f) => f.functionName));
    const inputs = bundled.filter((i) => !lazy.has(i) || ran.has(i));
    return { code: r.status, stdout: r.stdout, contents: new Set(inputs.map(owner)), inputs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HEAVY = ['ssh2', 'listr2', 'yaml', 'ajv', 'src/plan', 'src/exec', 'src/fleet', 'src/lab', 'src/app', 'src/host', 'src/profile'];

test('--version and --help load commander and the command table, no command and no heavy dependency', () => {
  for (const args of [['--version'], ['--help'], ['plan', '--help']]) {
    const r = loaded(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.ok(r.contents.has('commander'), `the trace saw the CLI's chunks for ${args.join(' ')}: ${[...r.contents].join(' ')}`);
    for (const h of HEAVY) assert.ok(!r.contents.has(h), `${args.join(' ')} loaded ${h}`);
  }
});

test('plan from a facts file loads the profile reader and the planner, not SSH, listr2 or a schema compiler', () => {
  const r = loaded(['plan', '--profile', 'profiles/seed-pkernfs.yaml', '--facts', 'profiles/facts/seed-host.json']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /43 steps/);
  for (const want of ['yaml', 'src/profile', 'src/plan']) assert.ok(r.contents.has(want), `plan loaded ${want}`);
  for (const h of ['ssh2', 'listr2', 'src/exec', 'src/fleet', 'src/lab']) assert.ok(!r.contents.has(h), `plan loaded ${h}`);
});

test('the schemas are compiled at build time: validating a profile loads no Ajv compiler', () => {
  const r = loaded(['validate', 'profiles/seed-pkernfs.yaml']);
  assert.equal(r.code, 0);
  assert.ok(r.contents.has('src/profile'));
  // the generated validator is plain code: at most a helper of Ajv's runtime, never its compiler
  assert.ok(!r.inputs.some((i) => /node_modules\/ajv\/dist\/(compile|core|ajv)/.test(i)), 'an Ajv compiler was loaded');
  // and only the profile's validator: not the inventory's or the facts'
  assert.ok(r.inputs.includes('dist/src/input/validate-profile.cjs'));
  assert.ok(!r.inputs.some((i) => /validate-(inventory|facts)\.cjs$/.test(i)));
});

test('the on-host agent carries only what runs a plan: no YAML parser, schema validator, SSH client or CLI framework', () => {
  // it starts at boot inside the VMs' blackout, on a cold page cache: every KB is read and parsed then
  const agent = JSON.parse(readFileSync(join(ROOT, 'dist/bundles/agent.meta.json'), 'utf8')) as Meta;
  const outs = Object.entries(agent.outputs).filter(([name]) => name.endsWith('.cjs'));
  assert.equal(outs.length, 1, 'one file');
  const inputs = Object.keys(outs[0]![1].inputs);
  assert.ok(inputs.includes('dist/src/exec/executor.js'), 'the executor is in it');
  const carried = new Set(inputs.map(owner));
  for (const h of [
    'yaml',
    'ajv',
    'ssh2',
    'listr2',
    'commander',
    'fast-xml-parser',
    'src/profile',
    'src/fleet',
    'src/lab',
    'src/cli',
    'src/input',
  ])
    assert.ok(!carried.has(h), `the agent bundle carries ${h}`);
  // of the planner, only the plan's types and constants: the plan arrives made
  assert.deepEqual(
    inputs.filter((i) => i.startsWith('dist/src/plan/')),
    ['dist/src/plan/types.js'],
  );
});

test('the CLI is compiled with the code cache the build made; a cache V8 refuses or a missing one only makes it slower', () => {
  const plan = ['plan', '--profile', join(ROOT, 'profiles/seed-pkernfs.yaml'), '--facts', join(ROOT, 'profiles/facts/seed-host.json')];
  const report = (bin: string, env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [bin, ...plan], { encoding: 'utf8', env: { ...process.env, LIVEUPDATE_CODE_CACHE: 'report', ...env } });
  const built = report(join(ROOT, 'bin/liveupdate.js'));
  assert.equal(built.status, 0, built.stderr);
  assert.equal(built.stderr, 'code cache: used\n', 'this Node accepts the cache the build made with it');
  // a copy of bin/ and the bundle, whose cache is garbage, then gone
  const dir = tempDir(join(tmpdir(), 'lu-cache-'));
  try {
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'dist/bundles/cli'), { recursive: true });
    copyFileSync(join(ROOT, 'bin/liveupdate.js'), join(dir, 'bin/liveupdate.js'));
    copyFileSync(join(ROOT, 'dist/bundles/cli/liveupdate.cjs'), join(dir, 'dist/bundles/cli/liveupdate.cjs'));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    writeFileSync(join(dir, 'dist/bundles/cli/liveupdate.cjs.cache'), randomBytes(4096));
    const garbage = report(join(dir, 'bin/liveupdate.js'));
    assert.equal(garbage.stderr, 'code cache: rejected\n');
    rmSync(join(dir, 'dist/bundles/cli/liveupdate.cjs.cache'));
    const none = report(join(dir, 'bin/liveupdate.js'));
    assert.equal(none.stderr, 'code cache: missing\n');
    for (const r of [garbage, none]) {
      assert.equal(r.status, 0);
      assert.equal(r.stdout, built.stdout, 'the same plan');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an older Node than package.json engines asks for gets a message and exit 64, before anything loads', () => {
  // the only double: this Node made to say it is 18 (process.versions before bin/liveupdate.js runs)
  const pretend = `data:text/javascript,Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '18.19.0' } });`;
  const r = spawnSync(process.execPath, ['--import', pretend, join(ROOT, 'bin/liveupdate.js'), '--version'], { encoding: 'utf8' });
  assert.equal(r.status, 64, r.stderr);
  assert.match(r.stderr, /^error: liveupdate needs Node\.js 20\.9 or newer; this is v18\.19\.0 /);
  assert.equal(r.stdout, '');
  const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
  assert.equal(engines, '>=20.9', 'the check and package.json engines say the same');
});

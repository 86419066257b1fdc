// The real CLI (bin/liveupdate.js, the bundle a user runs) as a process, with a module-load trace
// (test/helpers/load-trace.ts): what each command loads before it does anything. The bundle keeps
// esbuild's `// node_modules/PKG/...` and `// dist/src/DIR/...` markers, so a loaded chunk says what is in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../helpers/paths.js';

/** The packages and source folders in the chunks `liveupdate ARGS` loaded, and its exit code. */
function loaded(args: string[]): { code: number | null; stdout: string; contents: Set<string>; text: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lu-load-'));
  try {
    const trace = join(dir, 'trace');
    const r = spawnSync(process.execPath, ['--import', join(ROOT, 'dist/test/helpers/load-trace.js'), join(ROOT, 'bin/liveupdate.js'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, LU_LOAD_TRACE: trace },
    });
    const contents = new Set<string>();
    let text = '';
    for (const url of readFileSync(trace, 'utf8').split('\n')) {
      if (!url.startsWith('file:') || !url.includes('/dist/bundles/cli/')) continue;
      const chunk = readFileSync(fileURLToPath(url), 'utf8');
      text += chunk;
      for (const m of chunk.matchAll(/^\/\/ (?:node_modules\/((?:@[\w.-]+\/)?[\w.-]+)|dist\/src\/([\w-]+))\//gm)) contents.add(m[1] ?? `src/${m[2]}`);
    }
    return { code: r.status, stdout: r.stdout, contents, text };
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
  assert.match(r.stdout, /40 steps/);
  for (const want of ['yaml', 'src/profile', 'src/plan']) assert.ok(r.contents.has(want), `plan loaded ${want}`);
  for (const h of ['ssh2', 'listr2', 'src/exec', 'src/fleet', 'src/lab']) assert.ok(!r.contents.has(h), `plan loaded ${h}`);
});

test('the schemas are compiled at build time: validating a profile loads no Ajv compiler', () => {
  const r = loaded(['validate', 'profiles/seed-pkernfs.yaml']);
  assert.equal(r.code, 0);
  assert.ok(r.contents.has('src/profile'));
  // the generated validators need one helper of Ajv's runtime (string length) and nothing else of it
  assert.match(r.text, /^\/\/ node_modules\/ajv\/dist\/runtime\/ucs2length/m);
  assert.doesNotMatch(r.text, /^\/\/ node_modules\/ajv\/dist\/(compile|core|ajv)/m);
});

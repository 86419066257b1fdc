// Installable like a tool: the package as npm packs it (package.json `files`), installed globally
// into a temporary prefix from the tarball, run from there. npm takes the dependencies from its cache
// (filled by `npm ci`). `--ignore-scripts` packs this checkout's build as it is: `prepack` would
// rebuild dist/ under the tests running from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

test(
  'npm pack, npm install -g of the tarball into a prefix: liveupdate runs from there (plan, validate, the agent bundles and the helper are in it)',
  { timeout: 600_000 },
  () => {
    const dir = tempDir('/var/tmp/lu-package-');
    try {
      const packed = JSON.parse(
        execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' }),
      ) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const files = packed[0]!.files.map((f) => f.path);
      for (const want of [
        'bin/liveupdate.js',
        'dist/bundles/cli/liveupdate.cjs',
        'dist/bundles/cli/liveupdate.cjs.cache',
        'dist/agent/liveupdate-agent.cjs',
        'dist/agent/liveupdate.mjs',
        'dist/native/lu-helper-static',
        'profiles/seed-pkernfs.yaml',
        'lab/image/init',
        'src/profile/schema.json',
        'src/fleet/schema.json',
        'src/facts/schema.json',
        'schemas/plan.schema.json',
        'schemas/saved-plan.schema.json',
        'schemas/events.schema.json',
      ]) {
        assert.ok(files.includes(want), `the package holds ${want}`);
      }
      assert.ok(
        !files.some((f) => /^(test|bench|dist\/test|dist\/bench|\.cache)\//.test(f)),
        'no tests, benchmarks or caches in the package',
      );
      const prefix = join(dir, 'prefix');
      execFileSync(
        'npm',
        ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, packed[0]!.filename)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const bin = join(prefix, 'bin', 'liveupdate');
      const installed = join(prefix, 'lib', 'node_modules', 'liveupdate');
      // from another folder, with the installed package's own example profile and facts
      const run = (...args: string[]) => spawnSync(bin, args, { cwd: dir, encoding: 'utf8' });
      const plan = run(
        'plan',
        '--profile',
        join(installed, 'profiles/seed-pkernfs.yaml'),
        '--facts',
        join(installed, 'profiles/facts/seed-host.json'),
      );
      assert.equal(plan.status, 0, plan.stderr);
      assert.match(plan.stdout, /43 steps, 40 to do/);
      const valid = run('validate', join(installed, 'profiles/lab.yaml'));
      assert.equal(valid.status, 0, valid.stderr);
      assert.equal(run('--version').stdout.trim(), '0.1.0');
      assert.ok(readdirSync(join(installed, 'dist', 'agent')).includes('liveupdate-agent.cjs'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

// `liveupdate completion bash`, from the real CLI, loaded into a real bash: what Tab offers at each
// point of a command line, for commands, subcommands, flags and flag values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args], { encoding: 'utf8' });

/** COMPREPLY for a command line whose last word is being completed, in `cwd`. */
function complete(script: string, cwd: string, words: string[]): string[] {
  const line = words.map((w) => `'${w}'`).join(' ');
  writeFileSync(join(cwd, '.completion.bash'), script);
  const r = spawnSync(
    'bash',
    [
      '-c',
      `source .completion.bash && COMP_WORDS=(${line}) && COMP_CWORD=$((\${#COMP_WORDS[@]}-1)) && _liveupdate && printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { cwd, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout.split('\n').filter(Boolean).sort();
}

test('bash completion, made from the program: commands, subcommands, flags, flag values, files', () => {
  const r = cli('completion', 'bash');
  assert.equal(r.status, 0, r.stderr);
  const dir = tempDir('/tmp/lu-completion-');
  writeFileSync(join(dir, 'hv1.yaml'), '');
  writeFileSync(join(dir, 'hv2.yaml'), '');
  assert.deepEqual(complete(r.stdout, dir, ['liveupdate', 'pl']), ['plan']);
  assert.deepEqual(complete(r.stdout, dir, ['liveupdate', 'fleet', '']), ['plan', 'run', 'status']);
  assert.deepEqual(complete(r.stdout, dir, ['liveupdate', 'fleet', 'run', '--dr']), ['--dry-run']);
  assert.deepEqual(complete(r.stdout, dir, ['liveupdate', 'plan', '--phase', 's']), ['suspend']);
  assert.deepEqual(complete(r.stdout, dir, ['liveupdate', 'run', '--via', '']), ['agent', 'ssh']);
  assert.deepEqual(complete(r.stdout, dir, ['liveupdate', 'run', '--phase', 'u']), ['update']);
  assert.deepEqual(complete(r.stdout, dir, ['liveupdate', 'plan', '--profile', 'hv']), ['hv1.yaml', 'hv2.yaml']);
  // every flag program.ts gives `run` is offered
  const runFlags = complete(r.stdout, dir, ['liveupdate', 'run', '--']);
  for (const f of ['--profile', '--host', '--identity', '--known-hosts', '--facts', '--via', '--json', '--help'])
    assert.ok(runFlags.includes(f), `${f} in ${runFlags.join(' ')}`);
});

test('zsh gets the same function through bashcompinit; another shell is a usage error', () => {
  const z = cli('completion', 'zsh');
  assert.equal(z.status, 0, z.stderr);
  assert.match(z.stdout, /autoload -U \+X bashcompinit && bashcompinit\n[\s\S]*complete -o filenames -F _liveupdate liveupdate/);
  const f = cli('completion', 'fish');
  assert.equal(f.status, 64);
  assert.match(f.stderr, /completion fish: expected bash or zsh/);
});

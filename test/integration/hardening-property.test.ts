// Hardening, one property test per class that has no generator of its own elsewhere (issue 45): each
// generates variants, not only the examples its class was found with, and runs them through the real
// parts (the CLI as a process, sh, real pipes, this machine's file systems). The other classes'
// property tests: kernel-cmdline (1), qemu-args (5, 6), host/target (7), report/visible (10),
// input/hostile-property (12, 13).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import fc from 'fast-check';
import { run } from '../../src/cli/main.js';
import { declareCommands } from '../../src/cli/program.js';
import { probeArgv } from '../../src/facts/probe.js';
import { parseProbeOutput } from '../../src/facts/parse.js';
import { probeFacts } from '../../src/facts/gather.js';
import { LocalHost } from '../../src/host/local.js';
import { factRules } from '../../src/plan/rules.js';
import { parseProfile } from '../../src/profile/load.js';
import { ROOT, profilePath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('/var/tmp/lu-hardening-prop-');
const shm = tempDir('/dev/shm/lu-hardening-prop-');
test.after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(shm, { recursive: true, force: true });
});
const CLI = join(ROOT, 'bin/liveupdate.js');
const cli = (args: string[], timeout = 30_000) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
const noCrash = (r: { stderr: string; signal: NodeJS.Signals | null }, what: string): void => {
  assert.equal(r.signal, null, `${what}: killed by ${String(r.signal)} (it hung)`);
  assert.doesNotMatch(r.stderr, /\n\s+at |hit a bug/, `${what}: a stack trace`);
};
let seq = 0;
const fresh = (name: string): string => {
  const d = join(dir, `${name}-${seq++}`);
  mkdirSync(d);
  return d;
};
const stock = readFileSync(profilePath('pmem-stock.yaml'), 'utf8');
const pmemFacts = join(ROOT, 'profiles/facts/pmem-host.json');
/** profiles/pmem-stock.yaml with `n` VMs. */
function profileWith(n: number): string {
  const vms = Array.from(
    { length: n },
    (_, i) => `  - name: vm${i}\n    memory: 16M\n    qemu: { cpus: 1, args: [-nodefaults, -display, none] }\n`,
  ).join('');
  const file = join(fresh('profile'), 'p.yaml');
  writeFileSync(file, stock.slice(0, stock.indexOf('vms:')) + 'vms:\n' + vms);
  return file;
}

test('class 2, output is whole: whatever the plan size and format, what arrives through a pipe is what a file gets; a reader that stops early never fails the command', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 60 }), fc.boolean(), fc.integer({ min: 1, max: 200_000 }), (n, json, headBytes) => {
      const p = profileWith(n);
      const args = `'${CLI}' plan --profile '${p}' --facts '${pmemFacts}'${json ? ' --json' : ''}`;
      const file = join(dirname(p), 'out');
      const toFile = spawnSync('sh', ['-c', `node ${args} > '${file}'`], { encoding: 'utf8' });
      assert.equal(toFile.status, 0, toFile.stderr);
      const piped = spawnSync('sh', ['-c', `node ${args} | cat`], { encoding: 'utf8', maxBuffer: 64 << 20 });
      assert.equal(
        piped.stdout,
        readFileSync(file, 'utf8'),
        `${n} VMs${json ? ', --json' : ''}: the pipe got ${piped.stdout.length} bytes`,
      );
      if (json) JSON.parse(piped.stdout);
      // pipefail: the status is the CLI's when it fails
      const head = spawnSync('bash', ['-c', `set -o pipefail; node ${args} | head -c ${headBytes} > /dev/null`], { encoding: 'utf8' });
      noCrash({ stderr: head.stderr, signal: head.signal }, `head -c ${headBytes}`);
      assert.equal(head.status, 0, `head -c ${headBytes}: exit ${head.status}: ${head.stderr}`);
      assert.equal(head.stderr, '', `head -c ${headBytes}: ${head.stderr}`);
    }),
    { numRuns: 6 },
  );
});

test('class 3, nothing runs that the profile did not name: whatever a QEMU binary or VM name holds (spaces, quotes, $( ), ;, globs, newlines), the probe runs no second program and reports the name whole', async () => {
  const d = fresh('probe');
  const marker = join(d, 'ran');
  writeFileSync(join(d, 'evil'), `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o755 });
  const piece = fc.constantFrom(
    ' ',
    '\t',
    ';',
    '&',
    '|',
    '$(',
    ')',
    '`',
    "'",
    '"',
    '*',
    '?',
    '[',
    ']',
    '{',
    '}',
    '\\',
    '$IFS',
    '>',
    '<',
    'evil',
    d,
    '/',
    'qemu',
  );
  const word = fc.array(piece, { minLength: 1, maxLength: 8 }).map((a) => a.join(''));
  await fc.assert(
    fc.asyncProperty(fc.array(word, { minLength: 1, maxLength: 3 }), fc.array(word, { maxLength: 2 }), async (binaries, names) => {
      const qemu = binaries.map((b) => (b.startsWith('/') ? b : `/${b}`));
      const r = await new LocalHost().exec(
        probeArgv(
          qemu,
          [],
          names.map((n) => ({ name: n, pidfile: `${d}/${n}/qemu.pid` })),
        ),
      );
      assert.ok(!existsSync(marker), `a second program ran for ${JSON.stringify({ qemu, names })}`);
      const f = parseProbeOutput(r.stdout, new Date().toISOString());
      // (a name with a tab or a newline cannot come back whole in the probe's lines; the profile refuses control characters)
      for (const q of qemu.filter((b) => !/[\t\n]/.test(b)))
        assert.ok(
          f.qemu.some((x) => x.binary === q),
          `${JSON.stringify(q)} reported whole`,
        );
    }),
    { numRuns: 60 },
  );
});

test('class 4, resolve before checking: a state folder reached through any chain of symlinks is judged on tmpfs exactly when the folder it resolves to is (stat -f says so)', async () => {
  const disk = fresh('chain');
  const step = fc.constantFrom('dir', 'to-shm', 'to-disk', 'missing', 'dotdot');
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 5 }), async (steps) => {
      const base = fresh('resolve');
      let at = base;
      let gone = false; // past a missing component, the rest is only spelt
      steps.forEach((s, i) => {
        const next = join(at, `s${i}`);
        if (gone || s === 'missing') gone = true;
        else if (s === 'dir') mkdirSync(next);
        else if (s === 'to-shm') symlinkSync(tempDirIn(shm), next);
        else if (s === 'to-disk') symlinkSync(tempDirIn(disk), next);
        else if (s === 'dotdot') {
          mkdirSync(next);
          mkdirSync(join(next, 'x'));
          at = join(next, 'x', '..');
          return;
        }
        at = next;
      });
      const stateDir = join(at, 'state');
      const facts = await probeFacts(new LocalHost(), { qemu: [], files: [], dirs: [stateDir] });
      const p = parseProfile(
        'p.yaml',
        `version: 1\nhost: {name: h}\npersistence: {backend: pmem, size: 256M, offset: 1G, mount: /mnt/pmem-prop}\nkexec: {kernel: /boot/vmlinuz}\nmigration: {stateDir: ${stateDir}}\nvms: [{name: a, memory: 64M}]\n`,
      );
      if (!p.value) return; // a spelling the profile refuses (e.g. '..' normalised into another folder) is judged there
      const refused = factRules(p.value, facts, p.locate).errors.some((e) => e.field === 'migration.stateDir' && /tmpfs/.test(e.message));
      // the oracle: the kernel's own answer for the nearest folder that exists on the resolved path
      let probe = p.value.migration.stateDir;
      while (!existsSync(probe)) probe = dirname(probe);
      const fsType = spawnSync('stat', ['-f', '-c', '%T', probe], { encoding: 'utf8' }).stdout.trim();
      assert.equal(refused, fsType === 'tmpfs', `${stateDir} -> ${facts.paths?.[p.value.migration.stateDir]} (${fsType})`);
    }),
    { numRuns: 40 },
  );
});

function tempDirIn(parent: string): string {
  const d = join(parent, `t${seq++}`);
  mkdirSync(d);
  return d;
}

test('class 8, every file read is bounded and typed: whichever path flag names whichever kind of file (a FIFO, a device, a folder, a huge file, a loop of links), the CLI answers with a message and an exit code, never hangs or crashes', () => {
  const d = fresh('reads');
  spawnSync('mkfifo', [join(d, 'fifo')]);
  writeFileSync(join(d, 'huge'), Buffer.alloc(6 << 20, 0x41));
  writeFileSync(join(d, 'nul'), Buffer.alloc(4096, 0));
  symlinkSync(join(d, 'loop-b'), join(d, 'loop-a'));
  symlinkSync(join(d, 'loop-a'), join(d, 'loop-b'));
  symlinkSync(join(d, 'fifo'), join(d, 'to-fifo'));
  mkdirSync(join(d, 'folder'));
  const kinds = [
    join(d, 'fifo'),
    join(d, 'to-fifo'),
    '/dev/zero',
    '/dev/urandom',
    join(d, 'huge'),
    join(d, 'nul'),
    join(d, 'loop-a'),
    join(d, 'folder'),
    join(d, 'missing'),
  ];
  const seed = profilePath('seed-pkernfs.yaml');
  const seedFacts = join(ROOT, 'profiles/facts/seed-host.json');
  const readers: Array<(f: string) => string[]> = [
    (f) => ['validate', f],
    (f) => ['plan', '--profile', f, '--facts', seedFacts],
    (f) => ['plan', '--profile', seed, '--facts', f],
    (f) => ['fleet', 'plan', '--inventory', f],
    (f) => ['facts', '--host', 'root@127.0.0.1:9', '--identity', f],
    (f) => ['facts', '--host', 'root@127.0.0.1:9', '--known-hosts', f],
    (f) => ['facts', '--host', 'somehost', '-F', f],
    (f) => ['status', '--profile', seed, '--journal-dir', f],
  ];
  // every reader against every kind: the space is small, so all of it runs, not a sample
  for (const read of readers)
    for (const f of kinds) {
      const args = read(f);
      const r = cli(args, 20_000);
      noCrash(r, args.join(' '));
      // a journal folder that does not exist yet, or an empty one, is no run yet: status says so and succeeds
      if (args[0] === 'status' && (f.endsWith('/missing') || f.endsWith('/folder'))) {
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /no run recorded/);
        continue;
      }
      assert.ok(r.status === 1 || r.status === 64, `${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
      assert.notEqual(r.stderr.trim(), '', `${args.join(' ')}: no message`);
    }
});

/** What is at `p` now, to compare before and after: its kind, mode, target or content. */
function snapshot(p: string): string {
  if (!existsSync(p) && !isLink(p)) return 'missing';
  const st = lstatSync(p);
  if (st.isSymbolicLink()) return `link ${readlinkSync(p)}`;
  if (st.isFile()) return `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  if (st.isDirectory()) return `dir ${readdirSync(p).sort().join(',')}`;
  return `other ${st.rdev}`;
}
const isLink = (p: string): boolean => {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
};

test('class 9, writes do not follow or replace what they should not: whatever --out names, the command writes a private regular file there, or refuses and leaves every file as it was', () => {
  const p = profileWith(1);
  fc.assert(
    fc.property(
      fc.constantFrom(
        'new',
        'file-0644',
        'link-to-file',
        'dangling-link',
        'folder',
        'fifo',
        'device',
        'in-missing-folder',
        'trailing-slash',
      ),
      (kind) => {
        const d = fresh('writes');
        const victim = join(d, 'victim');
        writeFileSync(victim, 'precious\n', { mode: 0o644 });
        let out = join(d, 'saved.plan');
        if (kind === 'file-0644') writeFileSync(out, 'old\n', { mode: 0o644 });
        else if (kind === 'link-to-file') symlinkSync(victim, out);
        else if (kind === 'dangling-link') symlinkSync(join(d, 'elsewhere'), out);
        else if (kind === 'folder') mkdirSync(out);
        else if (kind === 'fifo') spawnSync('mkfifo', [out]);
        else if (kind === 'device') out = '/dev/null';
        else if (kind === 'in-missing-folder') out = join(d, 'no', 'saved.plan');
        else if (kind === 'trailing-slash') out = `${out}/`;
        const watched = [victim, out, join(d, 'elsewhere'), '/dev/null'];
        const before = watched.map(snapshot);
        const devnull = statSync('/dev/null').rdev;
        const r = cli(['plan', '--profile', p, '--facts', pmemFacts, '--out', out], 30_000);
        noCrash(r, `--out ${kind}`);
        assert.equal(snapshot(victim), before[0], `${kind}: the file a link named was changed`);
        assert.ok(statSync('/dev/null').isCharacterDevice() && statSync('/dev/null').rdev === devnull, `${kind}: /dev/null replaced`);
        assert.ok(!existsSync(join(d, 'elsewhere')), `${kind}: written through a dangling link`);
        if (r.status === 0) {
          const st = lstatSync(out);
          assert.ok(st.isFile(), `${kind}: wrote something that is not a regular file`);
          assert.equal(st.mode & 0o777, 0o600, `${kind}: the saved plan is not private`);
          assert.equal((JSON.parse(readFileSync(out, 'utf8')) as { type?: string }).type, 'saved-plan');
        } else {
          assert.equal(r.status, 64, `${kind}: ${r.stderr}`);
          assert.deepEqual(watched.map(snapshot), before, `${kind}: refused, yet something changed`);
        }
        assert.deepEqual(
          readdirSync(d).filter((f) => f.includes('.part') || f.startsWith('.')),
          [],
          `${kind}: a partial file left`,
        );
      },
    ),
    { numRuns: 25 },
  );
});

/** Every command's path and the flags of it that take a value (not those with fixed choices, which their command checks). */
function valueFlags(): Array<{ path: string[]; flag: string }> {
  const program = new Command();
  declareCommands(program, { out: undefined as never, setExit: () => undefined });
  const out: Array<{ path: string[]; flag: string }> = [];
  const walk = (c: Command, path: string[]): void => {
    for (const o of c.options)
      if ((o.required || o.optional) && o.long && !['--phase', '--phases', '--via', '--backend'].includes(o.long))
        out.push({ path, flag: o.long });
    for (const sub of c.commands) walk(sub, [...path, sub.name()]);
  };
  walk(program, []);
  return out;
}

test('class 11, empty means missing: every flag of every command that takes a value refuses an empty or blank value as a usage error, before anything is read or run', async () => {
  const flags = valueFlags();
  assert.ok(flags.length > 30, `only ${flags.length} flags found`);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...flags),
      fc.constantFrom('', ' ', '  ', '\t', ' \n '),
      fc.boolean(),
      async ({ path, flag }, blank, eq) => {
        const stdout = new PassThrough();
        const stderr = new PassThrough();
        let said = '';
        stderr.on('data', (c: Buffer) => (said += c.toString()));
        stdout.resume();
        const code = await run([...path, ...(eq ? [`${flag}=${blank}`] : [flag, blank])], { stdout, stderr });
        assert.equal(code, 64, `${path.join(' ')} ${flag} ${JSON.stringify(blank)}: exit ${code}: ${said}`);
        assert.match(said, /it is empty/, `${path.join(' ')} ${flag}`);
      },
    ),
    { numRuns: 120 },
  );
});

// qemu.args read as QEMU reads them (src/profile/qemu-options.ts): its table of what args may carry
// is checked against the real QEMU (this machine's qemu-system-x86_64: which options take a value),
// and hostile args go through the real CLI's validate. The property test is pure logic over that
// verified table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ARGS_OPTIONS, argsProblems, MANAGED_OPTIONS } from '../../src/profile/qemu-options.js';
import { ROOT, profilePath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const QEMU = 'qemu-system-x86_64';
const dir = tempDir('/var/tmp/lu-qemu-args-');
test.after(() => spawnSync('rm', ['-rf', dir]));

test('QEMU agrees on every option qemu.args may carry: those said to take a value want one, the others take none', () => {
  for (const [name, takesValue] of ARGS_OPTIONS) {
    // an option that takes a value, last on the line, is an error; one that takes none lets -version run
    const r = spawnSync(QEMU, takesValue ? [`-${name}`] : [`-${name}`, '-version'], { encoding: 'utf8', timeout: 30_000 });
    if (takesValue) assert.match(r.stderr, /requires an argument/, `-${name}: ${r.stderr}`);
    else {
      assert.equal(r.status, 0, `-${name}: ${r.stderr}`);
      assert.match(r.stdout, /QEMU emulator version/, `-${name} took a value: ${r.stderr}`);
    }
  }
});

const seed = readFileSync(profilePath('pmem-stock.yaml'), 'utf8');
const withArgs = (name: string, args: string[]): string => {
  const file = join(dir, name);
  writeFileSync(file, seed.replace('args: [-nodefaults, -display, none]', `args: ${JSON.stringify(args)}`));
  return file;
};
const validate = (file: string): { code: number | null; out: string } => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/liveupdate.js'), 'validate', file], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
};

test('hostile args are refused at the word, through the real CLI', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['trailing-L', ['-nodefaults', '-L'], /args\[1\]: '-L' takes a value, and nothing follows it/],
    ['readconfig', ['-readconfig', '/etc/qemu.conf'], /args\[0\]: '-readconfig' is not among the options qemu.args may carry/],
    ['json-ram', ['-object', '{"qom-type":"memory-backend-file","id":"m","size":1,"mem-path":"/x"}'], /args\[1\]: .* is guest RAM/],
    ['json-vfio', ['-device', '{"driver":"vfio-pci","host":"0000:00:03.0"}'], /args\[1\]: .* passes a device through/],
    ['keyval-vfio', ['-device', 'vfio-pci,host=0000:00:03.0'], /args\[1\]: .* passes a device through/],
    ['chardev-server', ['-chardev', 'socket,id=c,path=/etc/shadow,server=on,wait=off'], /args\[1\]: .* listens on a socket/],
    ['bare-word', ['/var/lib/disk.img'], /args\[0\]: '\/var\/lib\/disk.img' is not an option/],
    ['migration-global', ['-global', 'migration.x-ignore-shared=on'], /args\[1\]: .* sets a migration property/],
  ];
  for (const [name, args, message] of cases) {
    const r = validate(withArgs(`${name}.yaml`, args));
    assert.equal(r.code, 1, `${name}: ${r.out}`);
    assert.match(r.out, message, name);
  }
  const ok = validate(
    withArgs('ok.yaml', ['-nodefaults', '-display', 'none', '-device', 'virtio-net-pci,netdev=n', '-netdev', 'user,id=n']),
  );
  assert.equal(ok.code, 0, ok.out);
});

test('whatever args say, accepted ones never make QEMU take what liveupdate adds after them as a value', () => {
  const words = fc.oneof(
    fc.constantFrom(...[...ARGS_OPTIONS.keys(), ...MANAGED_OPTIONS.keys(), 'readconfig', 'set', 'mon'].flatMap((k) => [`-${k}`, `--${k}`])),
    fc.constantFrom(
      'none',
      'file=/x,if=ide',
      '{"qom-type":"memory-backend-ram","id":"r","size":1}',
      'socket,id=c,path=/q,server=on',
      '-S',
      'x',
    ),
  );
  fc.assert(
    fc.property(fc.array(words, { maxLength: 8 }), (args) => {
      if (argsProblems(args).length) return;
      // QEMU's own reading of args followed by what liveupdate appends: each option consumes its value
      const line = [...args, '-S', '-daemonize'];
      let i = 0;
      const options: string[] = [];
      while (i < line.length) {
        const name = line[i]!.replace(/^--?/, '');
        options.push(name);
        i += ARGS_OPTIONS.get(name) === true ? 2 : 1;
      }
      assert.deepEqual(options.slice(-2), ['S', 'daemonize'], JSON.stringify(args));
    }),
    { numRuns: 2000 },
  );
});

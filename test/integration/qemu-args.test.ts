// qemu.args read as QEMU reads them (src/profile/qemu-options.ts): its table of what args may carry
// is checked against the real QEMU (this machine's qemu-system-x86_64: which options take a value),
// and hostile args go through the real CLI's validate. The first property test is pure logic over that
// verified table; the second runs the real QEMU with generated args and reads what it listens on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
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
    ['serial-monitor', ['-serial', 'mon:stdio'], /args\[1\]: .* multiplexes a QEMU monitor/],
    ['serial-server', ['-serial', 'unix:/etc/shadow,server,nowait'], /args\[1\]: .* listens on a socket/],
    ['parallel-server', ['-parallel', 'tcp:127.0.0.1:4444,server=on,wait=off'], /args\[1\]: .* listens on a socket/],
    ['vnc-unix', ['-vnc', 'unix:/run/liveupdate/vms/web1/qmp.sock'], /args\[1\]: .* listens on a socket/],
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

/** The unix and TCP sockets process `pid` listens on (its fds' socket inodes, in /proc/net's LISTEN entries). */
function listening(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec(
      (() => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return '';
        }
      })(),
    );
    if (m) inodes.add(m[1]!);
  }
  const out: string[] = [];
  // /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path; St 01 is unconnected, flags 00010000 is __SO_ACCEPTCON (listening)
  for (const l of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = l.trim().split(/\s+/);
    if (f.length >= 7 && f[3] === '00010000' && inodes.has(f[6]!)) out.push(`unix:${f[7] ?? '(unnamed)'}`);
  }
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const l of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = l.trim().split(/\s+/);
      if (f.length >= 10 && f[3] === '0A' && inodes.has(f[9]!)) out.push(`tcp:${f[1]}`);
    }
  }
  return out.sort();
}

test(
  "liveupdate owns the sockets QEMU creates: whatever args say, the real QEMU with accepted args listens on the VM's QMP socket alone; refused ones would have listened or given a monitor",
  { timeout: 600_000 },
  async () => {
    // each case in a folder of its own: the paths a value names are there, never a real file
    let n = 0;
    const spec = (d: string) =>
      fc.oneof(
        fc.constantFrom<[string, string]>(
          ['-serial', 'null'],
          ['-serial', `unix:${d}/s1,server=on,wait=off`],
          ['-serial', `unix:${d}/s2,server,nowait`],
          ['-serial', `unix:${d}/s3,server=off`],
          ['-serial', `tcp:127.0.0.1:0,server=on,wait=off`],
          ['-serial', `file:${d}/serial.log`],
          ['-serial', 'mon:null'],
          ['-parallel', `unix:${d}/p1,server=on,wait=off`],
          ['-parallel', 'null'],
          ['-chardev', `socket,id=c1,path=${d}/c1,server=on,wait=off`],
          ['-chardev', `socket,id=c2,path=${d}/c2,server=off,reconnect=1`],
          ['-chardev', `{"backend":"null","id":"c3"}`],
          ['-chardev', `file,id=c4,path=${d}/c4.log`],
          ['-vnc', `unix:${d}/v1`],
          ['-vnc', 'none'],
          ['-display', 'none'],
        ),
      );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.infiniteStream(fc.nat()), async (count, seeds) => {
        const d = join(dir, `l${n++}`);
        spawnSync('mkdir', ['-p', d]);
        const picks = fc.sample(fc.array(spec(d), { minLength: count, maxLength: count }), {
          numRuns: 1,
          seed: seeds.next().value as number,
        })[0]!;
        const args = picks.flat();
        const refused = argsProblems(args);
        const qmp = join(d, 'qmp.sock');
        const child = spawn(
          QEMU,
          ['-machine', 'none', '-nodefaults', '-display', 'none', '-S', '-qmp', `unix:${qmp},server=on,wait=off`, ...args],
          {
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        try {
          // QEMU binds its monitors and chardevs before it answers on the QMP socket
          for (let i = 0; i < 300 && !existsSync(qmp) && child.exitCode === null; i++) await sleep(50);
          if (child.exitCode !== null) {
            // QEMU itself refused the line (e.g. two -vnc): nothing listened; accepted or not, no claim to check
            return;
          }
          await sleep(200);
          let got: string[];
          try {
            got = listening(child.pid!).filter((s) => s !== `unix:${qmp}`);
          } catch (e) {
            // QEMU gave up on the line after it had opened its QMP socket (its /proc entry is gone): nothing listens
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
            throw e;
          }
          if (child.exitCode !== null || child.signalCode !== null) return; // it exited while being read: no claim to check
          const monitor = args.some((a) => a.startsWith('mon:'));
          if (refused.length === 0) assert.deepEqual(got, [], `accepted ${JSON.stringify(args)}, yet QEMU listens on ${got.join(', ')}`);
          else if (refused.some((r) => /listens on a socket|monitor/.test(r.message)))
            assert.ok(
              got.length > 0 || monitor,
              `refused ${JSON.stringify(args)} as listening, yet QEMU listened only on its QMP socket (${stderr})`,
            );
        } finally {
          child.kill('SIGKILL');
          await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
          rmSync(d, { recursive: true, force: true });
        }
      }),
      { numRuns: 40 },
    );
  },
);

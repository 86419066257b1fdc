// The native helper's JSON protocol and error paths, on the real binary (dist/native/lu-helper) on
// this machine. This kernel has no /dev/vfio, /dev/iommu or /dev/liveupdate, which is what the
// "not supported by this kernel" cases need; the real VFIO ioctls run in the lab (test/lab).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { LocalHost } from '../../../src/host/local.js';
import type { Host } from '../../../src/host/host.js';
import {
  ensureHelper,
  helperBinary,
  helperPathFor,
  holderRequest,
  HelperError,
  probe,
  runHelper,
  type HelperResult,
} from '../../../src/native/helper.js';
import type { RunEnv } from '../../../src/exec/runners/env.js';
import { runStep } from '../../../src/exec/runners/step.js';
import { QmpPool } from '../../../src/qemu/pool.js';
import type { Step } from '../../../src/plan/types.js';
import { tempDir } from '../../helpers/temp.js';

const BIN = helperBinary('dynamic');
const host = new LocalHost();

function raw(
  input: string | Buffer,
  opts: { asNobody?: boolean } = {},
): { code: number | null; signal: string | null; doc: HelperResult; stdout: string } {
  const cmd = opts.asNobody ? 'setpriv' : BIN;
  const args = opts.asNobody ? ['--reuid=65534', '--regid=65534', '--clear-groups', nobodyCopy()] : [];
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 10_000 });
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one line of output, got: ${r.stdout}`);
  return { code: r.status, signal: r.signal, doc: JSON.parse(lines[0]!) as HelperResult, stdout: r.stdout };
}

let nobodyBin: string | undefined;
function nobodyCopy(): string {
  if (!nobodyBin) {
    const dir = tempDir('/tmp/lu-helper-');
    chmodSync(dir, 0o755);
    nobodyBin = join(dir, 'lu-helper');
    copyFileSync(BIN, nobodyBin);
    chmodSync(nobodyBin, 0o755);
  }
  return nobodyBin;
}

test('probe: one JSON result describing VFIO, groups, iommufd, LUO and kexec_file_load', async () => {
  const p = await probe(host);
  assert.equal(typeof p.vfio.present, 'boolean');
  assert.equal(p.vfio.present, existsSync('/dev/vfio/vfio'));
  assert.equal(p.iommufd.present, existsSync('/dev/iommu'));
  assert.equal(p.liveupdate.present, existsSync('/dev/liveupdate'));
  assert.ok(Array.isArray(p.groups));
  assert.match(p.kexec.fileLoad, /^(supported|not-supported|not-permitted|unknown)$/);
  assert.deepEqual(JSON.parse(execFileSync(BIN, ['--version'], { encoding: 'utf8' })), { helper: 'lu-helper', protocol: 1 });
});

test('malformed requests: a bad-request error naming the problem, exit 2, never a crash', () => {
  const cases: Array<[string | Buffer, RegExp]> = [
    ['', /malformed request: unexpected end at byte 0/],
    ['{', /malformed request: expected a key at byte 1/],
    ['{"op":"probe"} x', /trailing data/],
    ['[1,2]', /must be a JSON object/],
    ['{"op":1}', /field "op" must be a string/],
    ['{"ops":[]}', /"ops" must be a non-empty list/],
    ['{"op":"probe","ops":[{"op":"probe"}]}', /"op" or "ops", not both/],
    ['{"op":"format-disk"}', /unknown op "format-disk"/],
    ['{"ops":[{"op":"vfio.dma.map","container":"c","buffer":"b","iova":0}]}', /no handle named "c"/],
    [
      '{"ops":[{"op":"memfd.create","name":"x","size":4096,"as":"a"},{"op":"vfio.dma.map","container":"a","buffer":"a","iova":0}]}',
      /"a" is a fd, not a buffer/,
    ],
    ['{"ops":[{"op":"memfd.create","name":"x","size":4096,"as":"a b"}]}', /may hold only letters/],
    ['{"ops":[{"op":"memfd.create","name":"x","size":-1,"as":"a"}]}', /"size" must be a non-negative integer/],
    ['{"ops":[{"op":"luo.session.create","luo":"l","name":"' + 'n'.repeat(64) + '","as":"s"}]}', /no handle named "l"/],
    ['{"ops":[{"op":"probe"}],"then":{"hold":{}}}', /missing field "socket"/],
    ['{"ops":[{"op":"probe"}],"then":{"hold":{"socket":"/tmp/x"},"exec":["true"]}}', /"then" must be/],
    ['{"op":"kexec"}', /kexec needs "confirm":"kexec"/],
    ['{"a":' + '['.repeat(100) + ']'.repeat(100) + '}', /nested too deep/],
    [Buffer.from('{"op":"pro\u0000be"}'), /NUL byte/],
    ['{"op":"\\ud800"}', /lone surrogate/],
    ['x'.repeat((1 << 20) + 10), /larger than 1048576 bytes/],
  ];
  for (const [input, message] of cases) {
    const r = raw(input);
    assert.equal(r.signal, null);
    assert.equal(r.code, 2, `${String(input).slice(0, 60)}: exit ${r.code}: ${r.stdout}`);
    assert.equal(r.doc.ok, false);
    assert.equal(r.doc.error?.code, 'bad-request');
    assert.match(r.doc.error.message, message);
  }
});

test('property: any input gives exactly one JSON line with ok, and exit 0, 1 or 2', () => {
  // safe ops only: nothing here may reboot, allocate big or write to a device
  const safeOps = [
    'probe',
    'close',
    'vfio.container.open',
    'vfio.group.open',
    'vfio.set_iommu',
    'vfio.dma.map',
    'iommufd.open',
    'iommufd.ioas.alloc',
    'luo.open',
    'luo.session.retrieve',
    'luo.finish',
    'vfio.cdev.open',
  ];
  const value = fc.jsonValue({ maxDepth: 3 });
  const request = fc.oneof(
    fc.string({ maxLength: 200 }),
    value.map((v) => JSON.stringify(v)),
    fc
      .record(
        {
          op: fc.constantFrom(...safeOps),
          as: fc.string({ maxLength: 40 }),
          group: value,
          device: fc.string({ maxLength: 20 }),
          name: fc.string({ maxLength: 80 }),
        },
        { requiredKeys: ['op'] },
      )
      .map((o) => JSON.stringify(o)),
    fc
      .array(
        fc.record(
          {
            op: fc.constantFrom(...safeOps),
            as: fc.constantFrom('a', 'b', 'c'),
            container: fc.constantFrom('a', 'b'),
            buffer: fc.constantFrom('a', 'c'),
            iova: fc.nat(),
          },
          { requiredKeys: ['op'] },
        ),
        { minLength: 1, maxLength: 5 },
      )
      .map((ops) => JSON.stringify({ ops })),
  );
  fc.assert(
    fc.property(request, (input) => {
      const r = raw(input);
      assert.equal(r.signal, null, `killed by ${r.signal} on ${input}`);
      assert.ok(r.code === 0 || r.code === 1 || r.code === 2, `exit ${r.code} on ${input}`);
      assert.equal(typeof r.doc.ok, 'boolean');
      assert.equal(r.doc.ok, r.code === 0);
      if (!r.doc.ok) assert.equal(typeof r.doc.error?.message, 'string');
    }),
    { numRuns: 150 },
  );
});

test('a kernel without the feature: the device is missing -> "not supported by this kernel"', () => {
  const cases: Array<[string, RegExp]> = [
    ['luo.open', /no \/dev\/liveupdate: this kernel has no LUO: not supported by this kernel/],
    ['iommufd.open', /no \/dev\/iommu: this kernel has no iommufd \(CONFIG_IOMMUFD\): not supported by this kernel/],
    ['vfio.container.open', /no \/dev\/vfio\/vfio: VFIO is not available on this kernel/],
  ];
  for (const [op, message] of cases) {
    const r = raw(JSON.stringify({ ops: [{ op, as: 'x' }] }));
    assert.equal(r.code, 1);
    assert.equal(r.doc.error?.code, 'not-supported');
    assert.equal(r.doc.error?.errnoName, 'ENOENT');
    assert.equal(r.doc.error?.index, 0);
    assert.match(r.doc.error.message, message);
  }
});

test('a kernel without the ioctl: ENOTTY -> "not supported by this kernel", with what it needs', () => {
  // /dev/null stands in for a device whose driver lacks the ioctl: the kernel answers ENOTTY alike
  const r = raw(
    JSON.stringify({
      ops: [
        { op: 'luo.open', path: '/dev/null', as: 'l' },
        { op: 'luo.session.create', luo: 'l', name: 'vm1', as: 's' },
      ],
    }),
  );
  assert.equal(r.code, 1);
  assert.deepEqual(
    r.doc.results.map((x) => x.op),
    ['luo.open'],
    'the failed op leaves no result',
  );
  assert.equal(r.doc.error?.index, 1);
  assert.equal(r.doc.error?.errnoName, 'ENOTTY');
  assert.equal(r.doc.error?.code, 'not-supported');
  assert.match(r.doc.error.message, /^LIVEUPDATE_IOCTL_CREATE_SESSION on \/dev\/null: not supported by this kernel \(ENOTTY\)$/);
  const p = raw(
    JSON.stringify({
      ops: [
        { op: 'open', path: '/dev/null', as: 'c' },
        { op: 'open', path: '/dev/zero', as: 'f' },
        { op: 'vfio.set_persistent_pgtables', container: 'c', file: 'f' },
      ],
    }),
  );
  assert.match(
    p.doc.error!.message,
    /VFIO_CONTAINER_SET_PERSISTENT_PGTABLES on \/dev\/null: not supported by this kernel \(ENOTTY\): it needs the pkernfs RFC kernel/,
  );
});

test('permission: EPERM and EACCES are said as such (run as nobody)', () => {
  const dir = tempDir('/tmp/lu-perm-');
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'root-only'), 'x', { mode: 0o600 });
  const denied = raw(JSON.stringify({ ops: [{ op: 'open', path: join(dir, 'root-only'), as: 'f' }] }), { asNobody: true });
  assert.equal(denied.doc.error?.code, 'permission');
  assert.equal(denied.doc.error?.errnoName, 'EACCES');
  // reboot(2) checks CAP_SYS_BOOT before anything else: as nobody it is EPERM, whatever is staged
  const kexec = raw(JSON.stringify({ op: 'kexec', confirm: 'kexec' }), { asNobody: true });
  assert.equal(kexec.code, 1);
  assert.equal(kexec.doc.error?.code, 'permission');
  assert.equal(kexec.doc.error?.errnoName, 'EPERM');
  assert.match(kexec.doc.error.message, /reboot\(LINUX_REBOOT_CMD_KEXEC\): Operation not permitted/);
});

test('hold: the fds stay open in a daemon that answers status, passes fds (SCM_RIGHTS), runs ops and exits', async () => {
  const sock = join(tempDir('/tmp/lu-hold-'), 'h.sock');
  const r = await runHelper(host, {
    ops: [
      { op: 'memfd.create', name: 'guest', size: 1 << 20, as: 'ram' },
      { op: 'buffer.file', fd: 'ram', size: 1 << 20, as: 'map' },
    ],
    then: { hold: { socket: sock } },
  });
  const pid = r.then!.hold!.pid;
  assert.ok(pid > 0);
  assert.equal(r.handles?.['ram']?.size, 1 << 20);
  const fd = r.handles['ram'].fd!;
  // the memfd is reachable as /proc/PID/fd/N, which is how QEMU's memory-backend-file opens it
  assert.match(execFileSync('readlink', [`/proc/${pid}/fd/${fd}`], { encoding: 'utf8' }), /^\/memfd:guest \(deleted\)/);
  const st = await holderRequest(host, sock, { op: 'status' });
  assert.equal(st['pid'], pid);
  // fd passing, received by a second process
  const got = execFileSync(
    'python3',
    [
      '-c',
      `import socket,os,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'{"op":"fd","name":"ram"}\\n')
msg,fds,_,_=socket.recv_fds(s,4096,1); print(os.fstat(fds[0]).st_size, msg.decode().strip())`,
      sock,
    ],
    { encoding: 'utf8' },
  );
  assert.match(got, new RegExp(`^${1 << 20} \\{"ok":true,"fd":${fd}\\}`));
  // a second holder on the same socket is refused, the first keeps running
  const again = await runHelper(host, { ops: [{ op: 'probe' }], then: { hold: { socket: sock } } }, { allowFailure: true });
  assert.equal(again.error?.code, 'busy');
  assert.match(again.error.message, /a holder already answers on/);
  const closed = await holderRequest(host, sock, { op: 'close', name: 'map' });
  assert.equal(closed.ok, true);
  const bad = await holderRequest(host, sock, { op: 'luo.finish', session: 'nope' });
  assert.equal(bad.ok, false);
  assert.match(bad.error!.message, /no handle named "nope"/);
  assert.equal((await holderRequest(host, sock, { op: 'exit' })).ok, true);
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(existsSync(sock), false);
  await assert.rejects(holderRequest(host, sock, { op: 'status' }), /no helper answers on/);
});

test('exec: a VMM inherits the fds, {fd:NAME} becomes the number', () => {
  const r = spawnSync(BIN, {
    input: JSON.stringify({
      ops: [{ op: 'memfd.create', name: 'vmram', size: 8192, as: 'ram' }],
      then: { exec: ['sh', '-c', 'readlink /proc/self/fd/{fd:ram}; stat -L -c %s /proc/self/fd/{fd:ram}'] },
    }),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const [first, ...rest] = r.stdout.trim().split('\n');
  const doc = JSON.parse(first!) as HelperResult;
  assert.equal(doc.ok, true);
  assert.match(doc.then!.exec![2]!, /readlink \/proc\/self\/fd\/3;/);
  assert.deepEqual(rest, ['/memfd:vmram (deleted)', '8192']);
});

test('the runner: a helper-ioctl step fills run-time values; a holder step talks to the daemon; errors keep the helper words', async () => {
  const sock = join(tempDir('/tmp/lu-step-'), 'h.sock');
  const env: RunEnv = { host, qmp: new QmpPool(host), outcomes: new Map(), vars: {} };
  const meta = { phase: 'prepare' as const, blackout: false, idempotent: false, check: null, description: 'test' };
  const hold: Step = {
    ...meta,
    id: 'prepare/hold',
    kind: 'helper-ioctl',
    program: { ops: [{ op: 'memfd.create', name: 'guest', size: 4096, as: 'ram-vm1' }], then: { hold: { socket: sock } } },
    ioctls: [],
    vars: { 'holder.pid': 'then.hold.pid', 'memfd.vm1': 'handles.ram-vm1.fd' },
  };
  const out = await runStep(hold, env);
  assert.match(env.vars['holder.pid']!, /^[0-9]+$/);
  assert.equal(env.vars['memfd.vm1'], '3');
  assert.deepEqual(out['vars'], env.vars);
  const ask: Step = {
    ...meta,
    id: 'prepare/ask',
    kind: 'helper-ioctl',
    holder: sock,
    program: { ops: [{ op: 'close', name: 'ram-vm1' }] },
    ioctls: [],
  };
  assert.equal(((await runStep(ask, env))['answers'] as unknown[]).length, 1);
  const fail: Step = { ...meta, id: 'prepare/fail', kind: 'helper-ioctl', program: { ops: [{ op: 'luo.open', as: 'l' }] }, ioctls: [] };
  await assert.rejects(
    runStep(fail, env),
    (e: unknown) =>
      e instanceof HelperError && e.code === 'NOT_SUPPORTED' && /prepare\/fail: luo.open: no \/dev\/liveupdate/.test(e.message),
  );
  await holderRequest(host, sock, { op: 'exit' });
  // verify luo-holder before kexec: with no holder, the run must stop before the point of no return
  const verify: Step = {
    ...meta,
    id: 'kexec/verify-luo-holder',
    kind: 'verify',
    verify: { kind: 'luo-holder', sessions: ['liveupdate-vm1'] },
  };
  await assert.rejects(runStep(verify, env), /no helper answers on \/run\/liveupdate\/luo-holder.sock/);
});

// TEST DOUBLE: a remote host that answers `sha256sum` with what the test says is there, and records
// every command and upload; the real upload over SSH runs in the lab (--via ssh) tests.
class RemoteDouble {
  readonly name = 'root@double:22';
  ran: string[][] = [];
  puts: Array<{ path: string; bytes: number; mode: number | undefined }> = [];
  constructor(private readonly there: string | undefined) {}
  exec(argv: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    this.ran.push(argv);
    if (argv[0] === 'sha256sum')
      return Promise.resolve(
        this.there === undefined
          ? { stdout: '', stderr: 'No such file', exitCode: 1 }
          : { stdout: `${this.there}  ${argv[1]}\n`, stderr: '', exitCode: 0 },
      );
    return Promise.resolve({ stdout: '', stderr: '', exitCode: 0 });
  }
  put(content: string | Buffer, path: string, mode?: number): Promise<void> {
    this.puts.push({ path, bytes: content.length, mode });
    return Promise.resolve();
  }
}

test('a remote helper runs only when its whole sha256 is this build; otherwise it is uploaded under a name of its own and renamed into place', async () => {
  const bin = readFileSync(helperBinary('static'));
  const sum = createHash('sha256').update(bin).digest('hex');
  const asHost = (d: RemoteDouble): Host => d as unknown as Host;
  // the right content: nothing is uploaded
  const good = new RemoteDouble(sum);
  const path = await ensureHelper(asHost(good));
  assert.equal(path, helperPathFor(asHost(good)));
  assert.deepEqual(good.ran, [['sha256sum', path]]);
  assert.deepEqual(good.puts, []);
  // the same name with other bytes (a truncated copy, a tampered one), or none: uploaded again
  const runs: RemoteDouble[] = [];
  for (const there of ['0'.repeat(64), undefined]) {
    const d = new RemoteDouble(there);
    runs.push(d);
    assert.equal(await ensureHelper(asHost(d)), path);
    assert.equal(d.puts.length, 1);
    const part = d.puts[0]!;
    assert.match(part.path, new RegExp(`^${path.replace(/[.]/g, '\\.')}\\.part\\.[0-9a-f-]{36}$`));
    assert.deepEqual([part.bytes, part.mode], [bin.length, 0o755]);
    assert.deepEqual(d.ran.at(-1), ['mv', '-f', part.path, path]);
  }
  assert.notEqual(runs[0]!.puts[0]!.path, runs[1]!.puts[0]!.path, 'each upload has a name of its own');
});

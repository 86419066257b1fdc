// Pure logic: the QEMU command line liveupdate builds (no QEMU runs here; the lab and the VM tests run it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qemuArgv } from '../../../src/qemu/argv.js';

const vm = {
  name: 'vm1',
  memory: 2 ** 30,
  ramFile: 'vm1.ram',
  runDir: '/run/lu/a,server=off,b',
  qmp: '/run/lu/a,server=off,b/qmp.sock',
  pidfile: '/run/lu/a,server=off,b/qemu.pid',
  qemu: {
    binary: '/usr/bin/qemu-system-x86_64',
    restoreBinary: '/usr/bin/qemu-system-x86_64',
    machine: 'q35',
    accel: 'kvm',
    cpus: 2,
    args: [],
  },
  vfio: [],
};

test('every path placed inside a QEMU option string has its commas doubled (a comma there would inject options)', () => {
  const argv = qemuArgv({
    vm,
    binary: vm.qemu.binary,
    machine: 'pc-q35-7.2',
    ramPath: '/mnt/pmem/x,share=off',
    pidfile: '/run/liveupdate/vm1.pid',
    vfioArgs: [],
  });
  assert.equal(argv[argv.indexOf('-qmp') + 1], 'unix:/run/lu/a,,server=off,,b/qmp.sock,server=on,wait=off');
  assert.equal(argv[argv.indexOf('-object') + 1], 'memory-backend-file,id=ram0,size=1073741824,mem-path=/mnt/pmem/x,,share=off,share=on');
});

test("cpr-transfer's new QEMU: paused, its QMP socket its own, the state from two unix sockets as QEMU's JSON channels; aux-ram-share only when asked", () => {
  const base = {
    vm,
    binary: vm.qemu.binary,
    machine: 'pc-q35-10.0',
    ramPath: '/mnt/pmem/vm1',
    pidfile: '/run/liveupdate/vm1.pid.cpr',
    vfioArgs: [],
  };
  const argv = qemuArgv({
    ...base,
    qmp: '/run/lu/vm1.qmp.cpr',
    incoming: { main: '/run/liveupdate/vm1.migrate.sock', cpr: '/run/liveupdate/vm1.cpr.sock' },
    auxRamShare: true,
  });
  assert.equal(argv[argv.indexOf('-machine') + 1], 'pc-q35-10.0,memory-backend=ram0,aux-ram-share=on');
  assert.equal(argv[argv.indexOf('-qmp') + 1], 'unix:/run/lu/vm1.qmp.cpr,server=on,wait=off');
  const incoming = argv.flatMap((a, i): unknown[] => (a === '-incoming' ? [JSON.parse(argv[i + 1]!) as unknown] : []));
  assert.deepEqual(incoming, [
    { 'channel-type': 'main', addr: { transport: 'socket', type: 'unix', path: '/run/liveupdate/vm1.migrate.sock' } },
    { 'channel-type': 'cpr', addr: { transport: 'socket', type: 'unix', path: '/run/liveupdate/vm1.cpr.sock' } },
  ]);
  assert.ok(argv.includes('-S'));
  const plain = qemuArgv({ ...base, pidfile: '/run/liveupdate/vm1.pid' });
  assert.equal(plain[plain.indexOf('-machine') + 1], 'pc-q35-10.0,memory-backend=ram0');
  assert.ok(!plain.includes('-incoming') && !plain.includes('-S'));
});

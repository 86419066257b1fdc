// Pure logic: how a profile's qemu.args are read for the options liveupdate manages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { optionName } from '../../../src/profile/qemu-options.js';

test('an option is named the same however QEMU lets it be spelled; values are not options', () => {
  assert.deepEqual(
    ['-incoming', '--incoming', '-pidfile=/x', '--qmp=unix:/q', '-S', 'tcp:0:4444', 'virtio-net,id=n', '-', '--'].map(optionName),
    ['incoming', 'incoming', 'pidfile', 'qmp', 'S', undefined, undefined, undefined, undefined],
  );
});

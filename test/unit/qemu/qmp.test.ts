// Pure protocol logic: QmpClient against a scripted peer over an in-memory duplex (a test double
// for QEMU). The real QEMU is exercised in test/integration/vm-*.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { QmpClient, QmpError } from '../../../src/qemu/qmp.js';
import { selectMigrationMode, migrationUris } from '../../../src/qemu/mode.js';

/** A duplex whose far end is a function answering each line. */
function peer(
  answer: (msg: { execute: string; arguments?: unknown; id?: string }, send: (o: unknown) => void) => void,
  greet = true,
): Duplex {
  const toClient = new PassThrough();
  const fromClient = new PassThrough();
  const d = Duplex.from({ readable: toClient, writable: fromClient });
  const send = (o: unknown): void => void toClient.write(JSON.stringify(o) + '\r\n');
  let buf = '';
  fromClient.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      answer(JSON.parse(line) as { execute: string; id?: string }, send);
    }
  });
  if (greet) setImmediate(() => send({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 } }, capabilities: [] } }));
  return d;
}

const ok = (m: { id?: string }, send: (o: unknown) => void, ret: unknown = {}): void => send({ return: ret, id: m.id });

test('greeting, capabilities, and replies matched by id even out of order', async () => {
  const held: Array<() => void> = [];
  const c = await QmpClient.over(
    peer((m, send) => {
      if (m.execute === 'slow') held.push(() => ok(m, send, 'slow-done'));
      else if (m.execute === 'fast') {
        ok(m, send, 'fast-done');
        held.forEach((f) => f());
      } else ok(m, send);
    }),
    'fake',
  );
  assert.equal(c.greeting?.version?.qemu?.minor, 2);
  const [a, b] = await Promise.all([c.execute('slow'), c.execute('fast')]);
  assert.deepEqual([a, b], ['slow-done', 'fast-done']);
});

test('an error reply carries the QMP class and the command', async () => {
  const c = await QmpClient.over(
    peer((m, send) => (m.execute === 'migrate' ? send({ error: { class: 'GenericError', desc: 'disk busy' }, id: m.id }) : ok(m, send))),
    'fake',
  );
  await assert.rejects(
    c.execute('migrate', { uri: 'x' }),
    (e: unknown) =>
      e instanceof QmpError &&
      e.errorClass === 'GenericError' &&
      e.command === 'migrate' &&
      /QMP migrate failed: GenericError: disk busy/.test(e.message),
  );
});

test('events reach listeners and waitEvent', async () => {
  const c = await QmpClient.over(
    peer((m, send) => {
      ok(m, send);
      if (m.execute === 'stop') send({ event: 'STOP', timestamp: { seconds: 1, microseconds: 2 } });
    }),
    'fake',
  );
  const ev = c.waitEvent('STOP', 1000);
  await c.execute('stop');
  assert.equal((await ev).event, 'STOP');
});

test('a command with no reply times out with the command named', async () => {
  const c = await QmpClient.over(
    peer((m, send) => (m.execute === 'qmp_capabilities' ? ok(m, send) : undefined)),
    'fake',
  );
  await assert.rejects(c.execute('query-status', undefined, { timeoutMs: 50 }), /QMP query-status on fake: no reply within 50 ms/);
});

test('the peer closing fails pending commands with a clear error', async () => {
  const holder: { stream?: Duplex } = {};
  const stream = peer((m, send) => (m.execute === 'qmp_capabilities' ? ok(m, send) : holder.stream!.destroy()));
  holder.stream = stream;
  const c = await QmpClient.over(stream, 'fake');
  await assert.rejects(c.execute('migrate'), /QMP migrate on fake: connection closed before the reply \(QEMU exited\?\)/);
  assert.equal(c.closed, true);
  await assert.rejects(c.execute('cont'), /closed/);
});

test('no greeting: a timeout, not a hang', async () => {
  await assert.rejects(
    QmpClient.over(
      peer(() => undefined, false),
      'mute',
      50,
    ),
    /no greeting within 50 ms/,
  );
});

test('migration mode: auto picks cpr-reboot from 8.2, else x-ignore-shared; URIs follow the version', () => {
  assert.equal(selectMigrationMode('auto', '7.2.22').mode, 'x-ignore-shared');
  assert.equal(selectMigrationMode('auto', '8.2.0').mode, 'cpr-reboot');
  assert.equal(selectMigrationMode('auto', '10.0.2').mode, 'cpr-reboot');
  assert.equal(selectMigrationMode('auto', undefined).mode, 'x-ignore-shared');
  assert.equal(selectMigrationMode('x-ignore-shared', '10.0.0').mode, 'x-ignore-shared');
  assert.throws(() => selectMigrationMode('cpr-transfer', '10.0.0'), /cannot span a kexec/);
  assert.deepEqual(migrationUris("/s/it's.state", '7.2.0'), {
    out: `exec:cat > '/s/it'\\''s.state.part' && mv '/s/it'\\''s.state.part' '/s/it'\\''s.state'`,
    in: `exec:cat '/s/it'\\''s.state'`,
  });
  assert.deepEqual(migrationUris('/s/a.state', '8.2.0'), { out: 'file:/s/a.state', in: 'file:/s/a.state' });
});

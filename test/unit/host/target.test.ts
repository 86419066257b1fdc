// Pure: --host as OpenSSH writes a destination, parsed into login, address and port, and written back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalAddress, formatHostSpec, parseHostSpec } from '../../../src/host/target.js';
import { LiveupdateError } from '../../../src/errors.js';

test('the forms OpenSSH accepts: names, IPv4, IPv6 bare and in brackets before a port', () => {
  assert.deepEqual(parseHostSpec('hv1'), { address: 'hv1' });
  assert.deepEqual(parseHostSpec('root@10.0.0.5:2222'), { user: 'root', address: '10.0.0.5', port: 2222 });
  assert.deepEqual(parseHostSpec('::1'), { address: '::1' });
  assert.deepEqual(parseHostSpec('root@::1'), { user: 'root', address: '::1' });
  assert.deepEqual(parseHostSpec('[::1]:2299'), { address: '::1', port: 2299 });
  assert.deepEqual(parseHostSpec('root@[::1]:2299'), { user: 'root', address: '::1', port: 2299 });
  assert.deepEqual(parseHostSpec('root@[fe80::1]'), { user: 'root', address: 'fe80::1' });
});

test('what no destination is: said with the spec, as a usage error', () => {
  for (const [spec, why] of [
    ['root@::1:2299:x', /is not an address|brackets/],
    ['root@1.2.3.4:99999', /port 99999 is out of range/],
    ['root@1.2.3.4:2x', /'2x' is not a port number/],
    ['root@[hv1]:22', /'\[hv1\]' is not an IPv6 address/],
    ['root@', /no address/],
    ['a b@hv1', /not a login name/],
    ['hv1:22:33', /brackets/],
  ] as const) {
    assert.throws(
      () => parseHostSpec(spec),
      (e: unknown) => e instanceof LiveupdateError && e.code === 'USAGE' && e.message.startsWith(`--host ${spec}: `) && why.test(e.message),
      spec,
    );
  }
});

test('property: a target written by formatHostSpec parses back to itself (IPv4, IPv6, names; with or without login and port)', () => {
  const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
  const target = fc.record({
    user: fc.option(fc.stringMatching(/^[a-z_][a-z0-9_-]{0,15}$/), { nil: undefined }),
    address,
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  });
  fc.assert(
    fc.property(target, (t) => {
      const clean = {
        ...(t.user !== undefined ? { user: t.user } : {}),
        address: t.address,
        ...(t.port !== undefined ? { port: t.port } : {}),
      };
      assert.deepEqual(parseHostSpec(formatHostSpec(clean)), clean);
    }),
  );
});

test('one spelling per machine address: every way of writing one IP gives the same canonical form', () => {
  assert.equal(canonicalAddress('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(canonicalAddress('::FFFF:127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalAddress('::ffff:7f00:1'), '127.0.0.1');
  assert.equal(canonicalAddress('HV1.Example.'), 'hv1.example');
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
  fc.assert(
    fc.property(v4, fc.boolean(), ([a, b, c, d], upper) => {
      const ip = `${a}.${b}.${c}.${d}`;
      const hex = (n: number): string => n.toString(16);
      const spellings = [ip, `::ffff:${ip}`, `0:0:0:0:0:ffff:${ip}`, `::ffff:${hex((a << 8) | b)}:${hex((c << 8) | d)}`];
      for (const s of spellings) assert.equal(canonicalAddress(upper ? s.toUpperCase() : s), ip, s);
    }),
  );
  const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 });
  fc.assert(
    fc.property(v6, (groups) => {
      const full = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
      const bare = groups.map((g) => g.toString(16)).join(':');
      assert.equal(canonicalAddress(full.toUpperCase()), canonicalAddress(bare));
    }),
  );
});

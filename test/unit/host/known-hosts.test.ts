// Pure logic: known_hosts matching (plain, bracketed ports, wildcards, hashed, negated, revoked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { verifyHostKey, knownHostsName } from '../../../src/host/known-hosts.js';
import { keyTypeOf } from '../../../src/host/ssh.js';

const blob = (type: string, body: string): Buffer => {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, Buffer.from(body)]);
};
const K = blob('ssh-ed25519', 'key-one');
const K2 = blob('ssh-ed25519', 'key-two');
const line = (pat: string, k: Buffer): string => `${pat} ssh-ed25519 ${k.toString('base64')}\n`;

test('key type comes from the blob', () => {
  assert.equal(keyTypeOf(K), 'ssh-ed25519');
  assert.equal(keyTypeOf(Buffer.from([0, 0])), 'unknown');
});

test('bracketed host:port entries match exactly', () => {
  const name = knownHostsName('127.0.0.1', 2222);
  assert.equal(name, '[127.0.0.1]:2222');
  assert.deepEqual(verifyHostKey(line('[127.0.0.1]:2222', K), name, 'ssh-ed25519', K), { kind: 'known' });
  assert.deepEqual(verifyHostKey(line('[127.0.0.1]:2223', K), name, 'ssh-ed25519', K), { kind: 'unknown', otherTypes: [] });
  assert.deepEqual(verifyHostKey(line('127.0.0.1', K), knownHostsName('127.0.0.1', 22), 'ssh-ed25519', K), { kind: 'known' });
});

test('changed, wildcard, hashed, negated and revoked entries', () => {
  assert.equal(verifyHostKey(line('h1', K2), 'h1', 'ssh-ed25519', K).kind, 'changed');
  assert.equal(verifyHostKey(line('*.rack1', K), 'hv3.rack1', 'ssh-ed25519', K).kind, 'known');
  assert.equal(verifyHostKey(line('*.rack1,!hv3.rack1', K), 'hv3.rack1', 'ssh-ed25519', K).kind, 'unknown');
  const salt = Buffer.from('0123456789abcdef0123');
  const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('hv9').digest('base64')}`;
  assert.equal(verifyHostKey(line(hashed, K), 'hv9', 'ssh-ed25519', K).kind, 'known');
  assert.equal(verifyHostKey(line(hashed, K), 'hv8', 'ssh-ed25519', K).kind, 'unknown');
  assert.equal(verifyHostKey(`@revoked ${line('h1', K)}${line('h1', K)}`, 'h1', 'ssh-ed25519', K).kind, 'revoked');
  assert.equal(verifyHostKey(`@cert-authority ${line('h1', K)}`, 'h1', 'ssh-ed25519', K).kind, 'unknown');
});

test('a host known by keys of other types only: unknown for this type, with the types it is known by (a change to review)', () => {
  const ecdsa = `h1 ecdsa-sha2-nistp256 ${blob('ecdsa-sha2-nistp256', 'e').toString('base64')}\n`;
  const rsa = `h1 ssh-rsa ${blob('ssh-rsa', 'r').toString('base64')}\n`;
  assert.deepEqual(verifyHostKey(ecdsa + rsa + ecdsa, 'h1', 'ssh-ed25519', K), {
    kind: 'unknown',
    otherTypes: ['ecdsa-sha2-nistp256', 'ssh-rsa'],
  });
  // another host's keys, a CA line and a revoked one say nothing of this host's types
  assert.deepEqual(verifyHostKey(ecdsa.replace('h1', 'h2') + `@cert-authority ${rsa}`, 'h1', 'ssh-ed25519', K), {
    kind: 'unknown',
    otherTypes: [],
  });
  assert.deepEqual(verifyHostKey(ecdsa + line('h1', K), 'h1', 'ssh-ed25519', K), { kind: 'known' });
});

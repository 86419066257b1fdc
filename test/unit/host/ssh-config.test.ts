// ssh_config resolution, pure: files are strings in a map (no double of anything but the disk).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { parseJump, parseSshConfig, resolveSshConfig, type ConfigFiles } from '../../../src/host/ssh-config.js';

const fs = (files: Record<string, string>): ConfigFiles => ({
  read: (p) => files[p],
  list: (d) =>
    Object.keys(files)
      .filter((f) => f.startsWith(`${d}/`) && !f.slice(d.length + 1).includes('/'))
      .map((f) => f.slice(d.length + 1)),
});

const resolve = (text: string, host: string, given = {}, extra: Record<string, string> = {}) =>
  resolveSshConfig(parseSshConfig('/c', fs({ '/c': text, ...extra }), '/inc'), host, given);

test('Host blocks: the first value obtained wins, IdentityFile adds up, the command line beats the files', () => {
  const cfg = `
# bastion-reached hypervisors
Host hv-*  !hv-old
    HostName %h.dc1.example
    User ops
    IdentityFile ~/.ssh/hv_%r
    ProxyJump jump@bastion:2222
Host *
    User nobody
    Port 2200
    IdentityFile "~/.ssh/with space"
    ConnectTimeout 7
`;
  const r = resolve(cfg, 'hv-17');
  assert.equal(r.hostName, 'hv-17.dc1.example');
  assert.equal(r.user, 'ops');
  assert.equal(r.port, 2200);
  assert.deepEqual(r.identityFiles, [`${homedir()}/.ssh/hv_ops`, `${homedir()}/.ssh/with space`]);
  assert.deepEqual(r.proxyJump, ['jump@bastion:2222']);
  assert.equal(r.connectTimeoutMs, 7000);
  const old = resolve(cfg, 'hv-old');
  assert.equal(old.hostName, 'hv-old', 'a negated pattern keeps the block out');
  assert.equal(old.user, 'nobody');
  assert.deepEqual(old.proxyJump, []);
  const given = resolve(cfg, 'hv-17', { user: 'root', port: 22 });
  assert.equal(given.user, 'root');
  assert.equal(given.port, 22);
});

test('Match: host (after HostName), originalhost, user, all, negation; exec is not run and its block is skipped, said once', () => {
  const cfg = `
Host db
  HostName 10.0.0.5
Match host 10.0.0.* !originalhost web
  Port 2022
Match exec "true" host *
  User fromexec
Match user admin
  IdentitiesOnly yes
Match all
  StrictHostKeyChecking accept-new
`;
  const r = resolve(cfg, 'db');
  assert.equal(r.port, 2022);
  assert.notEqual(r.user, 'fromexec');
  assert.match(r.ignored.join('\n'), /\/c:6: Match exec is not evaluated by liveupdate/);
  assert.equal(r.identitiesOnly, false);
  assert.equal(resolve(cfg, 'db', { user: 'admin' }).identitiesOnly, true);
  assert.equal(r.strictHostKeyChecking, 'accept-new');
  assert.equal(
    resolve('Host *\n StrictHostKeyChecking no\n', 'x').strictHostKeyChecking,
    'accept-new',
    'no is taken as accept-new: a changed key is never accepted',
  );
  assert.equal(resolve('', 'x').strictHostKeyChecking, 'ask');
});

test('known hosts files, defaults and tokens; Include with a wildcard, relative to the includes folder', () => {
  const d = resolve('', '10.1.1.1');
  assert.deepEqual(d.userKnownHostsFiles, [`${homedir()}/.ssh/known_hosts`, `${homedir()}/.ssh/known_hosts2`]);
  assert.deepEqual(d.globalKnownHostsFiles, ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
  assert.equal(d.port, 22);
  const r = resolve(
    'Include conf.d/*.conf\nHost x\n UserKnownHostsFile /kh/%h /kh/all\n',
    'x',
    {},
    { '/inc/conf.d/a.conf': 'Host x\n  HostName from-include\n', '/inc/conf.d/b.txt': 'Host x\n  HostName wrong\n' },
  );
  assert.equal(r.hostName, 'from-include');
  assert.deepEqual(r.userKnownHostsFiles, ['/kh/from-include', '/kh/all']);
  assert.deepEqual(resolve('Host x\n ProxyJump none\n', 'x').proxyJump, []);
  assert.deepEqual(resolve('Host x\n ProxyJump a,b@c:2\n', 'x').proxyJump, ['a', 'b@c:2']);
});

test('ProxyJump hops: [user@]host[:port], with [v6]', () => {
  assert.deepEqual(parseJump('bastion'), { host: 'bastion' });
  assert.deepEqual(parseJump('ops@bastion:2222'), { user: 'ops', host: 'bastion', port: 2222 });
  assert.deepEqual(parseJump('[fd00::1]:22'), { host: 'fd00::1', port: 22 });
});

test('an Include loop stops at 16 levels, as ssh', () => {
  const r = resolve('Include /c\nHost *\n Port 2\n', 'x');
  assert.equal(r.port, 2);
});

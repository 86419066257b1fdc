// Host certificates made by the real ssh-keygen (CAs of every key type OpenSSH signs with), read and
// checked by src/host/host-cert.ts. No double.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { certificateProblem, certificateSignatureValid, parseHostCertificate } from '../../../src/host/host-cert.js';
import { tempDir } from '../../helpers/temp.js';

const dir = tempDir('/tmp/lu-cert-');
after(() => rmSync(dir, { recursive: true, force: true }));

const blob = (file: string): Buffer => Buffer.from(readFileSync(file, 'utf8').trim().split(/\s+/)[1]!, 'base64');
let n = 0;
function key(type: string, bits?: number): string {
  const f = join(dir, `k${n++}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-f', f]);
  return f;
}
/** a certificate of `hostKey`'s public half, signed by `ca`; returns the certificate file */
function sign(ca: string, hostKey: string, args: string[]): string {
  const pub = `${hostKey}-${n++}.pub`;
  execFileSync('cp', [`${hostKey}.pub`, pub]);
  execFileSync('ssh-keygen', ['-q', '-s', ca, '-I', 'hv-test', ...args, pub]);
  return pub.replace(/\.pub$/, '-cert.pub');
}

const host = key('ed25519');
const now = new Date();

for (const [type, bits] of [['ed25519'], ['ecdsa', 256], ['ecdsa', 384], ['ecdsa', 521], ['rsa', 3072]] as Array<[string, number?]>) {
  test(`a host certificate signed by a ${type}${bits ? `-${bits}` : ''} CA: read, its signature verified, a changed byte refused`, () => {
    const ca = key(type, bits);
    const cert = parseHostCertificate(blob(sign(ca, host, ['-h', '-n', 'hv1.example,10.0.0.1'])));
    assert.equal(cert.certType, 'ssh-ed25519-cert-v01@openssh.com');
    assert.equal(cert.kind, 2);
    assert.deepEqual(cert.principals, ['hv1.example', '10.0.0.1']);
    assert.deepEqual(cert.publicKey, blob(`${host}.pub`), 'the certified key is the plain host key');
    assert.deepEqual(cert.signatureKey, blob(`${ca}.pub`));
    assert.equal(certificateSignatureValid(cert), true);
    const tampered = Buffer.from(cert.signed);
    const at = tampered.indexOf('hv1.example') + 2;
    tampered[at] = tampered[at]! ^ 1;
    assert.equal(certificateSignatureValid({ ...cert, signed: tampered }), false);
    assert.equal(certificateProblem(cert, blob(`${host}.pub`), '10.0.0.1', [blob(`${ca}.pub`)], now), undefined);
  });
}

test('what a certificate does not vouch for is said: another host, another CA, expired, a user certificate, another key', () => {
  const ca = key('ed25519');
  const trusted = [blob(`${ca}.pub`)];
  const good = parseHostCertificate(blob(sign(ca, host, ['-h', '-n', 'hv1'])));
  const presented = blob(`${host}.pub`);
  assert.match(certificateProblem(good, presented, 'hv2', trusted, now)!, /names hv1, not hv2/);
  assert.match(
    certificateProblem(good, presented, 'hv1', [blob(`${key('ed25519')}.pub`)], now)!,
    /signed by a CA no @cert-authority line trusts/,
  );
  assert.match(
    certificateProblem(good, blob(`${key('ed25519')}.pub`), 'hv1', trusted, now)!,
    /certifies another key than the one the server presented/,
  );
  const expired = parseHostCertificate(blob(sign(ca, host, ['-h', '-n', 'hv1', '-V', '20200101:20200102'])));
  assert.match(certificateProblem(expired, presented, 'hv1', trusted, now)!, /is not valid now \(valid 2020-01-01.* to 2020-01-02/);
  const user = parseHostCertificate(blob(sign(ca, host, ['-n', 'hv1'])));
  assert.match(certificateProblem(user, presented, 'hv1', trusted, now)!, /is a user certificate, not a host certificate/);
  // ssh-keygen writes critical options into a host certificate when asked; ssh refuses such a certificate
  const critical = parseHostCertificate(blob(sign(ca, host, ['-h', '-n', 'hv1', '-O', 'critical:force-command=/bin/true'])));
  assert.deepEqual(critical.criticalOptions, ['force-command']);
  assert.deepEqual(good.criticalOptions, []);
  assert.match(
    certificateProblem(critical, presented, 'hv1', trusted, now)!,
    /has critical options \(force-command\), which no host certificate may carry/,
  );
  assert.throws(() => parseHostCertificate(presented), /not a certificate type liveupdate reads: ssh-ed25519/);
  assert.throws(() => parseHostCertificate(blob(sign(ca, host, ['-h', '-n', 'hv1'])).subarray(0, 100)), /truncated/);
});

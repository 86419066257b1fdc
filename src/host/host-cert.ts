/**
 * OpenSSH host certificates (PROTOCOL.certkeys): parsed, and their CA signature checked with
 * node:crypto. ssh2 cannot negotiate certificate host key algorithms, so a host vouched for by a
 * `@cert-authority` line presents its plain key to ssh2; its certificate is fetched apart (the
 * caller runs ssh-keyscan -c) and the plain key is trusted when the certificate, signed by that CA,
 * names this host and is valid now, and certifies exactly the key presented.
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';

export interface HostCertificate {
  certType: string;
  /** the certified key as a plain public key blob (what a server presents without the certificate) */
  publicKey: Buffer;
  serial: bigint;
  /** 1 user, 2 host */
  kind: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  /** the names of its critical options (a host certificate has none: ssh refuses one that does) */
  criticalOptions: string[];
  /** the CA's public key blob */
  signatureKey: Buffer;
  signed: Buffer;
  signature: { type: string; blob: Buffer };
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  get offset(): number {
    return this.at;
  }
  u32(): number {
    if (this.at + 4 > this.buf.length) throw new Error('truncated');
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u64(): bigint {
    if (this.at + 8 > this.buf.length) throw new Error('truncated');
    const v = this.buf.readBigUInt64BE(this.at);
    this.at += 8;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.at + n > this.buf.length) throw new Error('truncated');
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  /** the whole SSH string, length included (to copy it into another blob as it is) */
  raw(): Buffer {
    const start = this.at;
    this.bytes();
    return this.buf.subarray(start, this.at);
  }
  text(): string {
    return this.bytes().toString('utf8');
  }
  done(): boolean {
    return this.at === this.buf.length;
  }
}

const sshString = (s: string | Buffer): Buffer => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  const n = Buffer.alloc(4);
  n.writeUInt32BE(b.length);
  return Buffer.concat([n, b]);
};

/** A certificate blob (the base64 of a `*-cert-v01@openssh.com` line, decoded); throws what is wrong. */
export function parseHostCertificate(blob: Buffer): HostCertificate {
  const r = new Reader(blob);
  const certType = r.text();
  const m = /^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa)-cert-v01@openssh\.com$/.exec(certType);
  if (!m) throw new Error(`not a certificate type liveupdate reads: ${certType}`);
  const plainType = m[1]!;
  r.bytes(); // nonce
  const fields = plainType === 'ssh-ed25519' ? [r.raw()] : plainType === 'ssh-rsa' ? [r.raw(), r.raw()] : [r.raw(), r.raw()];
  // a plain RSA key blob is e then n, as in the certificate
  const publicKey = Buffer.concat([sshString(plainType), ...fields]);
  const serial = r.u64();
  const kind = r.u32();
  const keyId = r.text();
  const pr = new Reader(r.bytes());
  const principals: string[] = [];
  while (!pr.done()) principals.push(pr.text());
  const validAfter = r.u64();
  const validBefore = r.u64();
  // critical options: none is defined for host certificates, and ssh refuses one that has any
  const cr = new Reader(r.bytes());
  const criticalOptions: string[] = [];
  while (!cr.done()) {
    criticalOptions.push(cr.text());
    cr.bytes();
  }
  r.bytes(); // extensions
  r.bytes(); // reserved
  const signatureKey = r.bytes();
  const signed = blob.subarray(0, r.offset);
  const sr = new Reader(r.bytes());
  const signature = { type: sr.text(), blob: sr.bytes() };
  return {
    certType,
    publicKey,
    serial,
    kind,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    signatureKey,
    signed,
    signature,
  };
}

const b64url = (b: Buffer): string => b.toString('base64url');
/** an mpint without its sign byte */
const unsigned = (b: Buffer): Buffer => (b[0] === 0 ? b.subarray(1) : b);

const CURVES: Record<string, { crv: string; hash: string; bytes: number }> = {
  nistp256: { crv: 'P-256', hash: 'sha256', bytes: 32 },
  nistp384: { crv: 'P-384', hash: 'sha384', bytes: 48 },
  nistp521: { crv: 'P-521', hash: 'sha512', bytes: 66 },
};

/** Whether `cert.signature` is the CA's (`cert.signatureKey`) over the certificate. SHA-1 RSA signatures are refused, as OpenSSH does. */
export function certificateSignatureValid(cert: HostCertificate): boolean {
  const k = new Reader(cert.signatureKey);
  const type = k.text();
  const { type: sigType, blob } = cert.signature;
  let key: KeyObject;
  if (type === 'ssh-ed25519') {
    if (sigType !== 'ssh-ed25519') return false;
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(k.bytes()) }, format: 'jwk' });
    return verifySignature(null, cert.signed, key, blob);
  }
  if (type === 'ssh-rsa') {
    const hash = sigType === 'rsa-sha2-512' ? 'sha512' : sigType === 'rsa-sha2-256' ? 'sha256' : undefined;
    if (!hash) return false;
    const e = unsigned(k.bytes());
    const n = unsigned(k.bytes());
    key = createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' });
    return verifySignature(hash, cert.signed, key, blob);
  }
  const curve = CURVES[k.text()];
  if (!curve || sigType !== type) return false;
  const q = k.bytes();
  const x = q.subarray(1, 1 + curve.bytes);
  const y = q.subarray(1 + curve.bytes);
  key = createPublicKey({ key: { kty: 'EC', crv: curve.crv, x: b64url(x), y: b64url(y) }, format: 'jwk' });
  const rs = new Reader(blob);
  const pad = (v: Buffer): Buffer => Buffer.concat([Buffer.alloc(Math.max(0, curve.bytes - unsigned(v).length)), unsigned(v)]);
  return verifySignature(curve.hash, cert.signed, { key, dsaEncoding: 'ieee-p1363' }, Buffer.concat([pad(rs.bytes()), pad(rs.bytes())]));
}

/**
 * Why this certificate does not vouch for `presented` as the key of `hostName`, signed by one of
 * `authorities` (CA key blobs from `@cert-authority` lines), at `now`; undefined when it does.
 */
export function certificateProblem(
  cert: HostCertificate,
  presented: Buffer,
  hostName: string,
  authorities: Buffer[],
  now: Date,
): string | undefined {
  if (cert.kind !== 2) return `certificate ${cert.keyId} is a user certificate, not a host certificate`;
  if (!authorities.some((a) => a.equals(cert.signatureKey)))
    return `certificate ${cert.keyId} is signed by a CA no @cert-authority line trusts for this host`;
  if (!certificateSignatureValid(cert)) return `certificate ${cert.keyId}: its CA signature does not verify`;
  if (cert.criticalOptions.length)
    return `certificate ${cert.keyId} has critical options (${cert.criticalOptions.join(', ')}), which no host certificate may carry`;
  const t = BigInt(Math.floor(now.getTime() / 1000));
  if (t < cert.validAfter || t >= cert.validBefore)
    return `certificate ${cert.keyId} is not valid now (valid ${when(cert.validAfter)} to ${when(cert.validBefore)})`;
  if (!cert.principals.includes(hostName))
    return `certificate ${cert.keyId} names ${cert.principals.join(', ') || 'no host'}, not ${hostName}`;
  if (!cert.publicKey.equals(presented)) return `certificate ${cert.keyId} certifies another key than the one the server presented`;
  return undefined;
}

const when = (s: bigint): string => (s >= 2n ** 63n ? 'forever' : s === 0n ? 'always' : new Date(Number(s) * 1000).toISOString());

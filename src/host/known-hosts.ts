import { createHash, createHmac } from 'node:crypto';
import { globMatch } from '../glob.js';

/** How a host key compares with what known_hosts says for this host. */
export type HostKeyVerdict = { kind: 'known' } | { kind: 'unknown' } | { kind: 'changed'; expected: string[] } | { kind: 'revoked' };

/** OpenSSH writes non-22 ports as [host]:port. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function matchesPattern(name: string, pattern: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return globMatch(pattern, name);
}

/** The CA keys (blobs) `@cert-authority` lines trust for this host name, less any marked `@revoked`. */
export function certAuthorities(knownHosts: string, name: string): Buffer[] {
  const cas: string[] = [];
  const revoked = new Set<string>();
  for (const raw of knownHosts.split('\n')) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '@revoked' && fields[3]) revoked.add(fields[3]);
    if (fields[0] !== '@cert-authority' || !fields[1] || !fields[3]) continue;
    const pats = fields[1].split(',');
    if (pats.some((p) => p.startsWith('!') && matchesPattern(name, p.slice(1)))) continue;
    if (pats.some((p) => !p.startsWith('!') && matchesPattern(name, p))) cas.push(fields[3]);
  }
  return cas.filter((b) => !revoked.has(b)).map((b) => Buffer.from(b, 'base64'));
}

/** Check a presented key (the raw blob) against known_hosts text; negated patterns exclude; @cert-authority lines are certAuthorities()'. */
export function verifyHostKey(knownHosts: string, name: string, keyType: string, key: Buffer): HostKeyVerdict {
  const blob = key.toString('base64');
  const sameType: string[] = [];
  let known = false;
  for (const raw of knownHosts.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]!.startsWith('@')) marker = fields.shift();
    const [patterns, type, b64] = fields;
    if (!patterns || !type || !b64) continue;
    const pats = patterns.split(',');
    if (pats.some((p) => p.startsWith('!') && matchesPattern(name, p.slice(1)))) continue;
    if (!pats.some((p) => !p.startsWith('!') && matchesPattern(name, p))) continue;
    if (marker === '@revoked') {
      if (b64 === blob) return { kind: 'revoked' };
      continue;
    }
    if (marker) continue;
    if (b64 === blob && type === keyType) known = true;
    else if (type === keyType) sameType.push(fingerprint(Buffer.from(b64, 'base64')));
  }
  if (known) return { kind: 'known' };
  return sameType.length ? { kind: 'changed', expected: sameType } : { kind: 'unknown' };
}

export function knownHostsLine(name: string, keyType: string, key: Buffer): string {
  return `${name} ${keyType} ${key.toString('base64')}\n`;
}

import { createHash, createHmac } from 'node:crypto';
import { globMatch } from '../glob.js';

/** How a host key compares with what known_hosts says for this host. */
/** unknown: no key of this type is known for the host; `otherTypes`, the types it is known by (a key of another type for a known host is a change to review, never a new host). */
export type HostKeyVerdict =
  { kind: 'known' } | { kind: 'unknown'; otherTypes: string[] } | { kind: 'changed'; expected: string[] } | { kind: 'revoked' };

/** OpenSSH writes non-22 ports as [host]:port, and looks host names up in lower case. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
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
  // as OpenSSH's match_hostname: patterns compared in lower case (a hashed one was written from a lower-case name)
  return globMatch(pattern.toLowerCase(), name);
}

interface KnownHostsEntry {
  marker: string | undefined;
  type: string;
  b64: string;
  /** its host patterns take this name (and no negated one excludes it) */
  matches: boolean;
}

/** The entries of known_hosts text, each with whether it is for `name`; comments and short lines skipped. */
function* entries(knownHosts: string, name: string): Generator<KnownHostsEntry> {
  for (const raw of knownHosts.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith('@') ? fields.shift() : undefined;
    const [patterns, type, b64] = fields;
    if (!patterns || !type || !b64) continue;
    const pats = patterns.split(',');
    const matches =
      !pats.some((p) => p.startsWith('!') && matchesPattern(name, p.slice(1))) &&
      pats.some((p) => !p.startsWith('!') && matchesPattern(name, p));
    yield { marker, type, b64, matches };
  }
}

/** The CA keys (blobs) `@cert-authority` lines trust for this host name, less any marked `@revoked` (for any host). */
export function certAuthorities(knownHosts: string, name: string): Buffer[] {
  const all = [...entries(knownHosts, name)];
  const revoked = new Set(all.filter((e) => e.marker === '@revoked').map((e) => e.b64));
  return all.filter((e) => e.marker === '@cert-authority' && e.matches && !revoked.has(e.b64)).map((e) => Buffer.from(e.b64, 'base64'));
}

/** Check a presented key (the raw blob) against known_hosts text; negated patterns exclude; @cert-authority lines are certAuthorities()'. */
export function verifyHostKey(knownHosts: string, name: string, keyType: string, key: Buffer): HostKeyVerdict {
  const blob = key.toString('base64');
  const sameType: string[] = [];
  const otherTypes: string[] = [];
  let known = false;
  for (const { marker, type, b64, matches } of entries(knownHosts, name)) {
    if (!matches) continue;
    if (marker === '@revoked') {
      if (b64 === blob) return { kind: 'revoked' };
      continue;
    }
    if (marker) continue;
    if (b64 === blob && type === keyType) known = true;
    else if (type === keyType) sameType.push(fingerprint(Buffer.from(b64, 'base64')));
    else if (!otherTypes.includes(type)) otherTypes.push(type);
  }
  if (known) return { kind: 'known' };
  return sameType.length ? { kind: 'changed', expected: sameType } : { kind: 'unknown', otherTypes };
}

export function knownHostsLine(name: string, keyType: string, key: Buffer): string {
  return `${name} ${keyType} ${key.toString('base64')}\n`;
}

/** The key types known_hosts holds for this host (plain entries, in file order): what OpenSSH asks the server for first. */
export function knownKeyTypes(knownHosts: string, name: string): string[] {
  const types: string[] = [];
  for (const { marker, type, matches } of entries(knownHosts, name)) if (matches && !marker && !types.includes(type)) types.push(type);
  return types;
}

/**
 * The server host key algorithms in the order to offer them: those of the key types known for the
 * host first (an RSA key by its SHA-2 signatures first), then the rest of `supported` as it was, as
 * OpenSSH orders HostKeyAlgorithms; so a host known by one key type is not asked for another it
 * also has. Undefined when nothing is known (the transport's own order).
 */
export function hostKeyAlgorithms(known: string[], supported: readonly string[]): string[] | undefined {
  const first = known
    .flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]))
    .filter((a) => supported.includes(a));
  if (!first.length) return undefined;
  return [...new Set([...first, ...supported])];
}

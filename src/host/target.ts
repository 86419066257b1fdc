/**
 * Where an SSH host is: a login, an address and a port, kept as three fields from where they are
 * given (an inventory entry, `--host`) to the SSH layer, as Ansible's ssh connection takes them. A
 * string is parsed once, at the command line; nothing builds `user@addr:port` to parse it again.
 */
import { isIPv6 } from 'node:net';
import { LiveupdateError } from '../errors.js';

export interface HostTarget {
  /** the login; without it, ssh_config's User, else this user */
  user?: string;
  /** an IP address (v4 or v6), a DNS name, or a Host of ssh_config */
  address: string;
  /** without it, ssh_config's Port, else 22 */
  port?: number;
}

/**
 * `--host` as OpenSSH writes a destination: [user@]address[:port], where an IPv6 address stands bare
 * (`::1`, `root@fe80::1`) or in brackets before a port (`[::1]:2222`, `root@[::1]:2222`).
 */
export function parseHostSpec(spec: string): HostTarget {
  const bad = (why: string): LiveupdateError =>
    new LiveupdateError('USAGE', `--host ${spec}: expected [user@]address[:port] or a Host of ssh_config; ${why}`, {
      hint: 'an IPv6 address stands bare, or in brackets before a port: root@[::1]:2222',
    });
  // the login ends at the last '@', as ssh splits it
  const at = spec.lastIndexOf('@');
  const user = at >= 0 ? spec.slice(0, at) : undefined;
  const rest = at >= 0 ? spec.slice(at + 1) : spec;
  if (user !== undefined && !/^[^\s:/]+$/.test(user)) throw bad(`'${user}' is not a login name`);
  let address: string;
  let port: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(rest);
  if (bracketed) {
    address = bracketed[1]!;
    port = bracketed[2];
    if (!isIPv6(address)) throw bad(`'[${address}]' is not an IPv6 address`);
  } else if (isIPv6(rest)) {
    address = rest;
  } else {
    const colon = rest.indexOf(':');
    address = colon >= 0 ? rest.slice(0, colon) : rest;
    port = colon >= 0 ? rest.slice(colon + 1) : undefined;
    if (port?.includes(':')) throw bad('an IPv6 address with a port goes in brackets: [v6-address]:port');
  }
  if (!address || /[\s/@[\]]/.test(address)) throw bad(address ? `'${address}' is not an address` : 'no address');
  if (port !== undefined && !/^[0-9]{1,5}$/.test(port)) throw bad(`'${port}' is not a port number`);
  const n = port === undefined ? undefined : Number(port);
  if (n !== undefined && (n < 1 || n > 65535)) throw bad(`port ${n} is out of range`);
  return { ...(user !== undefined ? { user } : {}), address, ...(n !== undefined ? { port: n } : {}) };
}

/** The address as a destination spells it: an IPv6 address in brackets. */
export function addressSpec(address: string): string {
  return isIPv6(address) ? `[${address}]` : address;
}

/** The target as `--host` takes it again (parseHostSpec(formatHostSpec(t)) is t). */
export function formatHostSpec(t: HostTarget): string {
  return `${t.user !== undefined ? `${t.user}@` : ''}${t.port !== undefined ? addressSpec(t.address) : t.address}${t.port !== undefined ? `:${t.port}` : ''}`;
}

/**
 * One spelling per machine address, to tell two entries that reach the same machine apart from
 * two machines: an IPv6 address in its shortest lowercase form (0:0:0:0:0:0:0:1 is ::1), an
 * IPv4-mapped one as its IPv4 address (::ffff:127.0.0.1 is 127.0.0.1), a DNS name lowercase
 * without its root dot (HV1.example. is hv1.example). Names that resolve to one address are not
 * found here: that needs the network.
 */
export function canonicalAddress(address: string): string {
  if (isIPv6(address)) {
    const short = new URL(`http://[${address}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(short);
    if (!mapped) return short;
    const [hi, lo] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
  }
  return address.toLowerCase().replace(/\.$/, '');
}

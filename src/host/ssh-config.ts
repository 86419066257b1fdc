/**
 * OpenSSH's client configuration (ssh_config(5)), the part that says how to reach a host: Host and
 * Match blocks, Include, and HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump,
 * ProxyCommand, UserKnownHostsFile, GlobalKnownHostsFile, StrictHostKeyChecking, ConnectTimeout;
 * what else would change how ssh connects is named so that the caller refuses it (UNSUPPORTED). As in ssh, the
 * first value obtained for a keyword wins (IdentityFile adds up), so the command line, given first,
 * beats the files. Reading is the caller's (ConfigFiles), so that this is pure.
 */
import { homedir, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { globMatch } from '../glob.js';

export interface SshConfigLine {
  keyword: string;
  args: string[];
  /** file:line, for messages */
  where: string;
}

export interface SshResolved {
  hostName: string;
  user: string;
  port: number;
  identityFiles: string[];
  identitiesOnly: boolean;
  /** `[user@]host[:port]` hops, outermost first; none when ProxyJump is `none` or unset (or a ProxyCommand came first) */
  proxyJump: string[];
  /** ProxyCommand, its tokens (%h %p %r %n %%) expanded: run with `sh -c 'exec ...'`, its stdin and stdout the connection */
  proxyCommand?: string;
  /** settings that change where or how ssh would connect and that liveupdate does not honour: refused, never skipped */
  unsupported: Array<{ where: string; setting: string }>;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  strictHostKeyChecking: 'yes' | 'accept-new' | 'ask';
  connectTimeoutMs?: number;
  /** what was in the files but not honoured (Match exec, unknown StrictHostKeyChecking values), said once */
  ignored: string[];
}

export interface ConfigFiles {
  /** a file's text, undefined when it is not there */
  read: (path: string) => string | undefined;
  /** the names in a folder, none when it is not there */
  list: (dir: string) => string[];
}

/**
 * Settings that change where or how ssh connects (the address it binds or names the host key by, the
 * algorithms it allows, a certificate or token to log in with, a command to run instead) and that
 * liveupdate does not honour: a host whose ssh_config sets one is refused rather than reached another
 * way than ssh would. Values that change nothing are let through (HARMLESS).
 */
const UNSUPPORTED = new Set([
  'hostkeyalias',
  'bindaddress',
  'bindinterface',
  'addressfamily',
  'canonicalizehostname',
  'certificatefile',
  'identityagent',
  'pkcs11provider',
  'securitykeyprovider',
  'kexalgorithms',
  'ciphers',
  'macs',
  'hostkeyalgorithms',
  'pubkeyacceptedalgorithms',
  'pubkeyacceptedkeytypes',
  'remotecommand',
  'tunnel',
  'proxyusefdpass',
]);
const HARMLESS: Record<string, string[]> = {
  addressfamily: ['any'],
  canonicalizehostname: ['no'],
  tunnel: ['no'],
  proxyusefdpass: ['no'],
  remotecommand: ['none'],
};
/** how ssh_config(5) spells them, for messages */
const SPELLING: Record<string, string> = {
  hostkeyalias: 'HostKeyAlias',
  bindaddress: 'BindAddress',
  bindinterface: 'BindInterface',
  addressfamily: 'AddressFamily',
  canonicalizehostname: 'CanonicalizeHostname',
  certificatefile: 'CertificateFile',
  identityagent: 'IdentityAgent',
  pkcs11provider: 'PKCS11Provider',
  securitykeyprovider: 'SecurityKeyProvider',
  kexalgorithms: 'KexAlgorithms',
  ciphers: 'Ciphers',
  macs: 'MACs',
  hostkeyalgorithms: 'HostKeyAlgorithms',
  pubkeyacceptedalgorithms: 'PubkeyAcceptedAlgorithms',
  pubkeyacceptedkeytypes: 'PubkeyAcceptedKeyTypes',
  remotecommand: 'RemoteCommand',
  tunnel: 'Tunnel',
  proxyusefdpass: 'ProxyUseFdpass',
};

/** Keyword and arguments of each line, Include followed (at most 16 deep, as ssh); relative Includes are in `dirOfIncludes`. */
export function parseSshConfig(file: string, fs: ConfigFiles, dirOfIncludes: string, depth = 0): SshConfigLine[] {
  const text = fs.read(file);
  if (text === undefined || depth > 16) return [];
  const out: SshConfigLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) return;
    const keyword = m[1]!.toLowerCase();
    const args = words(m[2]!);
    const where = `${file}:${i + 1}`;
    if (keyword === 'include') {
      for (const pattern of args) {
        const path = expandTilde(pattern);
        const full = isAbsolute(path) ? path : join(dirOfIncludes, path);
        for (const f of globFiles(full, fs)) out.push(...parseSshConfig(f, fs, dirOfIncludes, depth + 1));
      }
      return;
    }
    out.push({ keyword, args, where });
  });
  return out;
}

/** Whitespace-separated words; double quotes keep spaces; a `#` starting a word ends the line. */
function words(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    if (m[2]?.startsWith('#')) break;
    out.push(m[1] ?? m[2]!);
  }
  return out;
}

const expandTilde = (p: string): string => (p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p);

/** `dir/*.conf`: the wildcard only in the last component (what Include is used with). */
function globFiles(path: string, fs: ConfigFiles): string[] {
  if (!/[*?]/.test(basename(path))) return [path];
  return fs
    .list(dirname(path))
    .filter((n) => globMatch(basename(path), n))
    .sort()
    .map((n) => join(dirname(path), n));
}

/** A comma list of patterns with `!negation`: matches when one positive matches and no negative does. */
export function matchPatternList(list: string, name: string): boolean {
  let hit = false;
  for (const p of list.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) hit = true;
  }
  return hit;
}

/**
 * Settings for `host` (what the operator typed: an alias or an address). `given` is the command
 * line's (user from user@, port from :port), which wins over the files.
 */
export function resolveSshConfig(lines: SshConfigLine[], host: string, given: { user?: string; port?: number } = {}): SshResolved {
  // each keyword's first line, in the order they were obtained
  const first = new Map<string, SshConfigLine>();
  const identityFiles: string[] = [];
  const ignored: string[] = [];
  let active = true;
  const localUser = process.env['USER'] ?? userInfo().username;
  for (const l of lines) {
    if (l.keyword === 'host') {
      active =
        l.args.some((p) => !p.startsWith('!') && globMatch(p, host)) &&
        !l.args.some((p) => p.startsWith('!') && globMatch(p.slice(1), host));
      continue;
    }
    if (l.keyword === 'match') {
      active = matchCriteria(
        l,
        {
          host: first.get('hostname')?.args[0]?.replace(/%h/g, host) ?? host,
          originalHost: host,
          user: given.user ?? first.get('user')?.args[0] ?? localUser,
          localUser,
        },
        ignored,
      );
      continue;
    }
    if (!active) continue;
    if (l.keyword === 'identityfile') identityFiles.push(...l.args.slice(0, 1));
    else if (!first.has(l.keyword)) first.set(l.keyword, l);
  }
  const one = (k: string): string | undefined => first.get(k)?.args[0];
  const hostName = (one('hostname') ?? host).replace(/%h/g, host).replace(/%%/g, '%');
  const user = given.user ?? one('user') ?? localUser;
  const port = given.port ?? (one('port') ? Number(one('port')) : 22);
  const tokens = (p: string): string =>
    expandTilde(
      p.replace(
        /%(.)/g,
        (m, c: string) => ({ h: hostName, n: host, p: String(port), r: user, u: localUser, d: homedir(), '%': '%' })[c] ?? m,
      ),
    );
  const strict = (one('stricthostkeychecking') ?? 'ask').toLowerCase();
  const strictHostKeyChecking =
    strict === 'accept-new' || strict === 'no' || strict === 'off' ? 'accept-new' : strict === 'yes' ? 'yes' : 'ask';
  if (strict === 'no' || strict === 'off')
    ignored.push(`StrictHostKeyChecking ${strict} is taken as accept-new: a changed host key is always refused`);
  // ProxyJump and ProxyCommand: whichever was obtained first wins, as in ssh
  const order = [...first.keys()];
  const at = (k: string): number => (first.has(k) ? order.indexOf(k) : Infinity);
  const [jumpAt, commandAt] = [at('proxyjump'), at('proxycommand')];
  const jump = jumpAt < commandAt ? one('proxyjump') : undefined;
  const command = commandAt < jumpAt ? first.get('proxycommand')?.args.join(' ') : undefined;
  const proxyCommand =
    command && command.toLowerCase() !== 'none'
      ? command.replace(/%(.)/g, (m, c: string) => ({ h: hostName, n: host, p: String(port), r: user, '%': '%' })[c] ?? m)
      : undefined;
  const unsupported = [...first.values()]
    .filter((l) => UNSUPPORTED.has(l.keyword) && !HARMLESS[l.keyword]?.includes((l.args[0] ?? '').toLowerCase()))
    .map((l) => ({ where: l.where, setting: `${SPELLING[l.keyword] ?? l.keyword} ${l.args.join(' ')}` }));
  const timeout = Number(one('connecttimeout'));
  return {
    hostName,
    user,
    port,
    identityFiles: identityFiles.map(tokens),
    identitiesOnly: (one('identitiesonly') ?? 'no').toLowerCase() === 'yes',
    proxyJump: jump && jump.toLowerCase() !== 'none' ? jump.split(',') : [],
    ...(proxyCommand ? { proxyCommand } : {}),
    unsupported,
    userKnownHostsFiles: (first.get('userknownhostsfile')?.args ?? ['~/.ssh/known_hosts', '~/.ssh/known_hosts2']).map(tokens),
    globalKnownHostsFiles: (first.get('globalknownhostsfile')?.args ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']).map(
      tokens,
    ),
    strictHostKeyChecking,
    ...(Number.isFinite(timeout) && timeout > 0 ? { connectTimeoutMs: timeout * 1000 } : {}),
    ignored,
  };
}

/** Match criteria, each possibly `!`negated; `exec` and `localnetwork` are not run here: they never match. */
function matchCriteria(
  l: SshConfigLine,
  names: { host: string; originalHost: string; user: string; localUser: string },
  ignored: string[],
): boolean {
  const a = l.args;
  for (let i = 0; i < a.length; i++) {
    const neg = a[i]!.startsWith('!');
    const c = a[i]!.replace(/^!/, '').toLowerCase();
    if (c === 'all' || c === 'canonical' || c === 'final') {
      if (neg) return false;
      continue;
    }
    const arg = a[++i] ?? '';
    let hit: boolean;
    if (c === 'host') hit = matchPatternList(arg, names.host);
    else if (c === 'originalhost') hit = matchPatternList(arg, names.originalHost);
    else if (c === 'user') hit = matchPatternList(arg, names.user);
    else if (c === 'localuser') hit = matchPatternList(arg, names.localUser);
    else {
      ignored.push(`${l.where}: Match ${c} is not evaluated by liveupdate; the block is skipped`);
      return false;
    }
    if (hit === neg) return false;
  }
  return true;
}

/** `[user@]host[:port]` of a ProxyJump hop. */
export function parseJump(spec: string): { user?: string; host: string; port?: number } {
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec);
  if (!m) return { host: spec };
  return { ...(m[1] ? { user: m[1] } : {}), host: m[2]!.replace(/^\[|\]$/g, ''), ...(m[3] ? { port: Number(m[3]) } : {}) };
}

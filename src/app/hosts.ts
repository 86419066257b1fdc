/** Which host a command acts on (this machine or one over SSH), and its facts: probed live or read from a file. */
import { LiveupdateError } from '../errors.js';
import { readFactsFile } from '../facts/file.js';
import { gatherFacts } from '../facts/gather.js';
import type { HostFacts } from '../facts/types.js';
import type { Host } from '../host/host.js';
import { LocalHost } from '../host/local.js';
import { readdirSync } from 'node:fs';
import { readBounded, whyUnreadable } from '../bounded-read.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SshHost } from '../host/ssh.js';
import { formatHostSpec, parseHostSpec, type HostTarget } from '../host/target.js';
import { parseJump, parseSshConfig, resolveSshConfig, type ConfigFiles, type SshConfigLine, type SshResolved } from '../host/ssh-config.js';
import type { Profile } from '../profile/types.js';

export interface HostOptions {
  /** this machine when absent; `--host` as typed (parsed once, by sshHost), or an inventory host's fields */
  host?: string | HostTarget;
  identity?: string;
  knownHosts?: string;
  acceptNewHostKey?: boolean;
  /** ssh -F: this ssh_config only (default ~/.ssh/config, then /etc/ssh/ssh_config) */
  sshConfig?: string;
  /** ssh -J: ProxyJump hops, given before any file (so it wins) */
  jump?: string;
  /** ssh -o: ssh_config settings (`Keyword=value` or `Keyword value`), given before any file */
  option?: string[];
  /** a non-root login: every command through `sudo -n` */
  become?: boolean;
}

/** ` --host TARGET` as the operator would type it again in a hint, or nothing for this machine. */
export function hostFlag(spec: string | HostTarget | undefined): string {
  return spec === undefined || spec === '' ? '' : ` --host ${typeof spec === 'string' ? spec : formatHostSpec(spec)}`;
}

export function isLocal(spec: string | HostTarget | undefined): boolean {
  return !spec || spec === 'local' || spec === 'localhost';
}

/** `--host` target: this machine unless [user@]addr[:port] or an ssh_config Host is given. */
export function openHost(opts: HostOptions): Host {
  if (isLocal(opts.host)) return new LocalHost();
  return sshHost(opts.host!, opts);
}

const files: ConfigFiles = {
  // bounded, regular files only (a FIFO named by -F or an Include would hang the CLI); a missing one is none
  read: (p) => {
    try {
      return readBounded(p, undefined, { nullIsEmpty: true });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return undefined;
      throw new LiveupdateError('USAGE', `ssh_config ${p}: cannot read it: ${whyUnreadable(err)}`, {
        cause: err,
      });
    }
  },
  list: (d) => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  },
};

/** ssh_config as ssh reads it: `-F FILE` alone, else the user's file, then the system's. */
function sshConfigLines(file: string | undefined): SshConfigLine[] {
  if (file) {
    if (files.read(file) === undefined) throw new LiveupdateError('USAGE', `--ssh-config ${file}: cannot read it`);
    return parseSshConfig(file, files, join(homedir(), '.ssh'));
  }
  return [
    ...parseSshConfig(join(homedir(), '.ssh', 'config'), files, join(homedir(), '.ssh')),
    ...parseSshConfig('/etc/ssh/ssh_config', files, '/etc/ssh'),
  ];
}

/**
 * An SSH host the way OpenSSH would reach it: `spec` and the flags first, then ssh_config (Host and
 * Match blocks: HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump, ProxyCommand, known
 * hosts files, StrictHostKeyChecking, ConnectTimeout; any other setting that changes how ssh connects
 * is refused). Each ProxyJump hop is itself resolved through ssh_config.
 */
export function sshHost(
  spec: string | HostTarget,
  opts: Omit<HostOptions, 'host'>,
  warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`),
): SshHost {
  // the command line's -o and -J first (in ssh_config the first value obtained wins), each named by its flag
  const flags: Array<[flag: string, line: string]> = [
    ...(opts.option ?? []).map((o): [string, string] => [`-o ${o}`, o]),
    ...(opts.jump ? [[`-J ${opts.jump}`, `ProxyJump ${opts.jump}`] as [string, string]] : []),
  ];
  const fromFlags = flags.flatMap(([flag, line]) =>
    parseSshConfig(flag, { read: () => line, list: () => [] }, homedir()).map((l) => ({ ...l, where: `the command line (${flag})` })),
  );
  const lines = [...fromFlags, ...sshConfigLines(opts.sshConfig)];
  const resolved = (t: { user?: string; host: string; port?: number }): SshResolved => {
    const r = resolveSshConfig(lines, t.host, { ...(t.user ? { user: t.user } : {}), ...(t.port ? { port: t.port } : {}) });
    for (const m of r.ignored) warn(m);
    if (r.unsupported.length)
      throw new LiveupdateError(
        'USAGE',
        `ssh_config sets for ${t.host} what would change how ssh connects, and liveupdate does not honour it: nothing was done`,
        {
          diagnostics: r.unsupported.map((u) => ({ where: u.where, message: `${u.setting}: not supported by liveupdate's SSH` })),
          hint: 'remove it for this host (or give liveupdate an ssh_config of its own with -F FILE)',
        },
      );
    return r;
  };
  const open = (r: SshResolved, jump: SshHost | undefined, flags: Omit<HostOptions, 'host'>): SshHost =>
    new SshHost(
      { user: r.user, host: r.hostName, port: r.port },
      {
        ...(flags.identity ? { identity: flags.identity } : { identityFiles: r.identityFiles, identitiesOnly: r.identitiesOnly }),
        knownHosts: flags.knownHosts ?? r.userKnownHostsFiles,
        globalKnownHosts: r.globalKnownHostsFiles,
        acceptNew: (flags.acceptNewHostKey ?? false) || r.strictHostKeyChecking === 'accept-new',
        ...(r.connectTimeoutMs ? { readyTimeoutMs: r.connectTimeoutMs } : {}),
        ...(jump ? { jump } : {}),
        ...(r.proxyCommand ? { proxyCommand: r.proxyCommand } : {}),
        ...(flags.become ? { become: true } : {}),
      },
    );
  const given = typeof spec === 'string' ? parseHostSpec(spec) : spec;
  const target = resolved({
    ...(given.user !== undefined ? { user: given.user } : {}),
    host: given.address,
    ...(given.port !== undefined ? { port: given.port } : {}),
  });
  // the hops take ssh_config only (as ssh's -J hops do); --known-hosts is the operator's for every hop
  const hopFlags = {
    ...(opts.knownHosts ? { knownHosts: opts.knownHosts } : {}),
    ...(opts.acceptNewHostKey ? { acceptNewHostKey: true } : {}),
  };
  const via = target.proxyJump.reduce<SshHost | undefined>((prev, hop) => open(resolved(parseJump(hop)), prev, hopFlags), undefined);
  return open(target, via, opts);
}

/** Facts from a saved file (`--facts`), else probed live on the host. */
export async function obtainFacts(opts: HostOptions & { facts?: string }, profile: Profile | undefined, host?: Host): Promise<HostFacts> {
  if (opts.facts) return readFactsFile(opts.facts);
  const h = host ?? openHost(opts);
  try {
    return await gatherFacts(h, profile);
  } finally {
    if (!host) await h.close();
  }
}

export function requireLiveBootId(raw: string, host: string): string {
  const id = raw.trim();
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new LiveupdateError('HOST_COMMAND_FAILED', `${host}: cannot read /proc/sys/kernel/random/boot_id`);
  return id;
}

/** Which host a command acts on (this machine or one over SSH), and its facts: probed live or read from a file. */
import { LiveupdateError } from '../errors.js';
import { readFactsFile } from '../facts/file.js';
import { gatherFacts } from '../facts/gather.js';
import type { HostFacts } from '../facts/types.js';
import type { Host } from '../host/host.js';
import { LocalHost } from '../host/local.js';
import { parseTarget, SshHost } from '../host/ssh.js';
import type { Profile } from '../profile/types.js';

export interface HostOptions {
  host?: string;
  identity?: string;
  knownHosts?: string;
  acceptNewHostKey?: boolean;
}

export function isLocal(spec: string | undefined): boolean {
  return !spec || spec === 'local' || spec === 'localhost';
}

/** `--host` target: this machine unless user@addr[:port] is given. */
export function openHost(opts: HostOptions): Host {
  if (isLocal(opts.host)) return new LocalHost();
  return new SshHost(parseTarget(opts.host!), {
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...(opts.knownHosts ? { knownHosts: opts.knownHosts } : {}),
    acceptNew: opts.acceptNewHostKey ?? false,
  });
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

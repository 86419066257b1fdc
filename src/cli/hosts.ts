import { LiveupdateError } from '../errors.js';
import { gatherFacts, readFactsFile } from '../facts/gather.js';
import type { HostFacts } from '../facts/types.js';
import type { Host } from '../host/host.js';
import { LocalHost } from '../host/local.js';
import type { Profile } from '../profile/types.js';

/** `--host` target: this machine unless user@addr[:port] is given. */
export function openHost(spec: string | undefined): Host {
  if (!spec || spec === 'local' || spec === 'localhost') return new LocalHost();
  throw new LiveupdateError('USAGE', `--host ${spec}: remote hosts arrive with the SSH transport; use --facts FILE to plan for another host`);
}

/** Facts from a saved file (`--facts`), else probed live on the host. */
export async function obtainFacts(opts: { facts?: string; host?: string }, profile: Profile | undefined): Promise<HostFacts> {
  if (opts.facts) return readFactsFile(opts.facts);
  const host = openHost(opts.host);
  try {
    return await gatherFacts(host, profile);
  } finally {
    await host.close();
  }
}

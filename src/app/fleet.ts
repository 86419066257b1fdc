/** The fleet's real parts: each inventory host updated by the same use case as `liveupdate run --host`, over SSH. */
import type { FleetHost, Inventory } from '../fleet/inventory.js';
import { targetOf, type HostUpdater } from '../fleet/run.js';
import type { Host } from '../host/host.js';
import { parseTarget, SshHost } from '../host/ssh.js';
import { updateHost, isDryRun, isExecuted } from './update.js';

/** An SSH connection to an inventory host, with its identity and known_hosts. */
export function connectFleetHost(h: FleetHost): Host {
  return new SshHost(parseTarget(targetOf(h)), { ...(h.identity ? { identity: h.identity } : {}), ...(h.knownHosts ? { knownHosts: h.knownHosts } : {}) });
}

/** Every inventory host runs exactly what `liveupdate run --host [--agent]` runs, with its own journal; nothing of it reaches the terminal. */
export function realUpdater(inv: Inventory, opts: { agent?: boolean } = {}): HostUpdater {
  return async (h, journalDir, onEvent) => {
    const events: Parameters<typeof onEvent>[0][] = [];
    const r = await updateHost(
      'run',
      inv.rollout.phases,
      {
        profile: h.profile,
        host: targetOf(h),
        journalDir,
        expectHostname: h.hostname,
        vmmOnly: inv.rollout.vmmOnly,
        agent: opts.agent ?? false,
        ...(h.identity ? { identity: h.identity } : {}),
        ...(h.knownHosts ? { knownHosts: h.knownHosts } : {}),
        ...(h.facts ? { facts: h.facts } : {}),
      },
      {
        warn: () => undefined,
        planned: () => undefined,
        autoAbort: () => undefined,
        reporter: () => ({
          emit: (e) => {
            events.push(e);
            onEvent(e);
          },
        }),
      },
    );
    if (isDryRun(r)) return { ok: false, error: 'dry run', events };
    if (!isExecuted(r)) return { ok: false, error: `stopped following the agent: ${r.detached.why}`, events };
    return { ok: r.ok, events, ...(r.ok ? {} : { error: r.failures.map((f) => `${f.id}: ${f.message}`).join('; ') }) };
  };
}

/** The fleet's real parts: each inventory host planned, or updated by the same use case as `liveupdate run --host`, over SSH. */
import { LiveupdateError } from '../errors.js';
import { batches } from '../fleet/batches.js';
import type { FleetHost, Inventory } from '../fleet/inventory.js';
import { applyLimit } from '../fleet/limit.js';
import { RateLimiter } from '../fleet/rate.js';
import type { HostUpdater } from '../fleet/run.js';
import type { Host } from '../host/host.js';
import { formatHostSpec } from '../host/target.js';
import { makePlan } from '../plan/planner.js';
import { requireProfile } from '../profile/load.js';
import type { Locate, Profile } from '../profile/types.js';
import { obtainFacts, openHost, sshHost, type HostOptions } from './hosts.js';
import { updateHost, isDryRun, isExecuted, isUpToDate } from './update.js';

/** The fleet command's own SSH flags (-F, -J, -o), as ssh takes them: for every host of the inventory. */
export type FleetSsh = Pick<HostOptions, 'sshConfig' | 'jump' | 'option'>;

/** An inventory host as every command's host options: its login, address and port as they are, its identity, known_hosts and become, and the command's SSH flags. */
export function hostOptionsOf(h: FleetHost, ssh: FleetSsh = {}): HostOptions & { host: { user: string; address: string; port: number } } {
  return {
    ...ssh,
    host: { user: h.user, address: h.address, port: h.port },
    ...(h.identity ? { identity: h.identity } : {}),
    ...(h.knownHosts ? { knownHosts: h.knownHosts } : {}),
    ...(h.become ? { become: true } : {}),
  };
}

/** An SSH connection to an inventory host, with its identity and known_hosts. */
export function connectFleetHost(h: FleetHost, ssh: FleetSsh = {}): Host {
  // an inventory address may be a Host of ssh_config (a bastion's ProxyJump, its IdentityFile)
  const hostOpts = hostOptionsOf(h, ssh);
  return sshHost(hostOpts.host, hostOpts);
}

/** Every inventory host runs exactly what `liveupdate run --host [--agent]` runs, with its own journal; nothing of it reaches the terminal. */
export function realUpdater(inv: Inventory, opts: { agent?: boolean; force?: boolean; ssh?: FleetSsh } = {}): HostUpdater {
  // one machine is one host: a second inventory entry that reaches a machine this run already has is refused before anything runs
  const machines = new Map<string, string>();
  const claim = (name: string) => (identity: string) => {
    const first = machines.get(identity);
    if (first !== undefined && first !== name)
      throw new LiveupdateError(
        'HOST_BUSY',
        `${name} is the machine ${first} is (${identity}): this run updates a machine once; nothing was done on it (remove one of the two from the inventory)`,
      );
    machines.set(identity, name);
  };
  return async (h, journalDir, onEvent) => {
    const events: Parameters<typeof onEvent>[0][] = [];
    const r = await updateHost(
      'run',
      inv.rollout.phases,
      {
        profile: h.profile,
        ...hostOptionsOf(h, opts.ssh),
        journalDir,
        expectHostname: h.hostname,
        vmmOnly: inv.rollout.vmmOnly,
        agent: opts.agent ?? false,
        force: opts.force ?? false,
        ...(h.facts ? { facts: h.facts } : {}),
        claimMachine: claim(h.name),
      },
      {
        warn: () => undefined,
        planned: () => undefined,
        autoAbort: () => undefined,
        progress: () => ({
          emit: (e) => {
            events.push(e);
            onEvent(e);
          },
        }),
      },
    );
    if (isDryRun(r)) return { ok: false, error: 'dry run', events };
    if (isUpToDate(r)) return { ok: true, upToDate: r.upToDate.upToDate!, events };
    if (!isExecuted(r)) return { ok: false, error: `stopped following the agent: ${r.detached.why}`, events };
    return { ok: r.ok, events, ...(r.ok ? {} : { error: r.failures.map((f) => `${f.id}: ${f.message}`).join('; ') }) };
  };
}

export interface HostPlanRow {
  host: string;
  batch: number;
  target: string;
  profile: string;
  ok: boolean;
  steps?: number;
  toDo?: number;
  blackoutSteps?: number;
  bootId?: string;
  /** nothing to do: the host is where the update would take it already (why) */
  upToDate?: string;
  /** the host must reboot before its update can run (its carve-out is not active yet): the step that sets it, and why */
  rebootFirst?: string;
  error?: string;
}

/** Facts and a plan for every host, `forks` at a time, new connections rate-limited. */
export async function planFleet(
  inv: Inventory,
  limit: string | undefined,
  forks: number,
  opts: { force?: boolean; ssh?: FleetSsh } = {},
): Promise<{ batches: string[][]; hosts: HostPlanRow[] }> {
  const selected = applyLimit(inv.hosts, limit);
  if (!selected.length) throw new LiveupdateError('USAGE', `--limit '${limit ?? ''}' selects no host of ${inv.file}`);
  const bs = batches(selected, inv.rollout.serial);
  const batchOf = new Map(bs.flatMap((b, i) => b.map((h) => [h.name, i] as const)));
  const profiles = new Map<string, { profile: Profile; locate: Locate }>();
  const limiter = new RateLimiter(inv.rollout.connectRate);
  const one = async (h: FleetHost): Promise<HostPlanRow> => {
    const hostOpts = hostOptionsOf(h, opts.ssh);
    const base = { host: h.name, batch: batchOf.get(h.name)!, target: formatHostSpec(hostOpts.host), profile: h.profile };
    try {
      let p = profiles.get(h.profile);
      if (!p) {
        const r = requireProfile(h.profile);
        p = { profile: r.profile, locate: r.locate };
        profiles.set(h.profile, p);
      }
      const profile = { ...p.profile, host: { ...p.profile.host, name: h.hostname } };
      if (!h.facts) await limiter.take();
      const facts = await obtainFacts(
        { ...hostOpts, ...(h.facts ? { facts: h.facts } : {}) },
        profile,
        h.facts ? undefined : openHost(hostOpts),
      );
      const plan = makePlan({
        profile,
        facts,
        phases: inv.rollout.phases,
        locate: p.locate,
        update: inv.rollout.vmmOnly ? 'vmm' : 'kernel',
        force: opts.force ?? false,
      });
      const reboot = plan.steps.find((s) => s.stopAfter && !s.satisfied);
      return {
        ...base,
        ok: true,
        steps: plan.steps.length,
        toDo: plan.steps.filter((s) => !s.satisfied).length,
        blackoutSteps: plan.steps.filter((s) => s.blackout).length,
        bootId: plan.facts.bootId,
        ...(reboot ? { rebootFirst: `${reboot.id}: ${reboot.stopAfter}` } : {}),
        ...(plan.upToDate ? { upToDate: plan.upToDate } : {}),
      };
    } catch (e) {
      const msg =
        e instanceof LiveupdateError
          ? [e.message, ...e.diagnostics.map((d) => (d.where ? `${d.where}: ` : '') + d.message)].join('; ')
          : e instanceof Error
            ? e.message
            : String(e);
      return { ...base, ok: false, error: msg };
    }
  };
  const rows: HostPlanRow[] = new Array<HostPlanRow>(selected.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(forks, selected.length) }, async () => {
      while (next < selected.length) {
        const i = next++;
        rows[i] = await one(selected[i]!);
      }
    }),
  );
  return { batches: bs.map((b) => b.map((h) => h.name)), hosts: rows };
}

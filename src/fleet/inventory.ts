/**
 * The fleet inventory (YAML, schema-checked like profiles): hosts with address, port, user, profile
 * and labels; groups that give their hosts defaults; the rollout (batches, failure budget, health
 * gate, SSH connection rate). Every problem is reported as file:line:col: field: message.
 */
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { LiveupdateError, type Diagnostic } from '../errors.js';
import { expandHome } from '../input/path.js';
import { byPosition } from '../input/position.js';
import { readInputFile } from '../input/read.js';
import { schemaDiagnosticsWith } from '../input/schema.js';
import { validate as validateInventory } from '../input/validate-inventory.cjs';
import { readYaml } from '../input/yaml.js';
import { canonicalAddress } from '../host/target.js';
import { formatDuration, MAX_DURATION_MS, parseDuration } from '../units.js';
import type { Serial } from './batches.js';

/** RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens, 253 characters at most. */
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export interface FleetHost {
  name: string;
  address: string;
  port: number;
  user: string;
  /** absolute path of the host profile */
  profile: string;
  /** the hostname the host must report (the profile's host.name is replaced by it) */
  hostname: string;
  groups: string[];
  labels: Record<string, string>;
  identity?: string;
  knownHosts?: string;
  /** a non-root login: commands through sudo -n */
  become?: boolean;
  facts?: string;
  /** position of the host's entry, for messages */
  where: string;
}

export interface Rollout {
  serial: Serial | undefined;
  concurrency: number | undefined;
  maxFailPercentage: number;
  maxPerLabel: Record<string, number>;
  /** new SSH connections per second */
  connectRate: number;
  /**
   * Run on each host of a batch until it exits 0: a new check starts only within `timeoutMs` of the
   * first; each check has its own `checkTimeoutMs` (the SSH connection has its own too), so a slow
   * login shell never turns a command that exits in time into a timeout.
   */
  healthGate?: { command: string[]; timeoutMs: number; intervalMs: number; checkTimeoutMs: number };
  vmmOnly: boolean;
  /** all (prepare through resume) or update (suspend, kexec, resume: hosts prepared earlier) */
  phases: 'all' | 'update';
}

export interface Inventory {
  file: string;
  hosts: FleetHost[];
  rollout: Rollout;
}

interface Conn {
  port?: number;
  user?: string;
  profile?: string;
  identity?: string;
  knownHosts?: string;
  become?: boolean;
  hostname?: string;
  labels?: Record<string, string>;
}

interface RawInventory {
  version: 1;
  defaults?: Conn;
  groups?: Record<string, Conn>;
  hosts: Array<Conn & { name: string; address?: string; groups?: string[]; facts?: string }>;
  rollout?: {
    serial?: Serial;
    concurrency?: number;
    maxFailPercentage?: number;
    maxPerLabel?: Record<string, number>;
    connectRate?: number;
    healthGate?: { command: string[]; timeout?: string | number; interval?: string | number; checkTimeout?: string | number };
    vmmOnly?: boolean;
    phases?: 'all' | 'update';
  };
}

export function parseInventory(file: string, text: string): { value?: Inventory; errors: Diagnostic[] } {
  const src = readYaml(file, text);
  if (src.syntaxErrors.length) return { errors: src.syntaxErrors };
  const schemaErrors = byPosition(schemaDiagnosticsWith(validateInventory, src));
  if (schemaErrors.length) return { errors: schemaErrors };
  const raw = src.data as RawInventory;
  const errors: Diagnostic[] = [];
  const base = dirname(resolve(file));
  // paths relative to the inventory's folder; `~/` is the operator's home, as in a shell
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(base, expandHome(p)));
  const groups = raw.groups ?? {};
  const seen = new Map<string, number>();
  const hosts: FleetHost[] = [];
  raw.hosts.forEach((h, i) => {
    const at = (field: string): string => src.locate(['hosts', i, field]);
    const prev = seen.get(h.name);
    if (prev !== undefined) errors.push({ where: at('name'), field: `hosts[${i}].name`, message: `'${h.name}' is already hosts[${prev}]` });
    seen.set(h.name, i);
    const gs = h.groups ?? [];
    gs.forEach((g, j) => {
      if (!groups[g])
        errors.push({
          where: src.locate(['hosts', i, 'groups', j]),
          field: `hosts[${i}].groups[${j}]`,
          message: `no group '${g}' in groups:`,
        });
    });
    // host fields win over its groups (later groups over earlier), groups over defaults
    const layers: Conn[] = [raw.defaults ?? {}, ...gs.map((g) => groups[g] ?? {}), h];
    const pick = <K extends keyof Conn>(k: K): Conn[K] => layers.reduce<Conn[K]>((v, l) => (l[k] !== undefined ? l[k] : v), undefined);
    // all digits and dots is an IPv4 address or nothing (999.1.1.1 is not a name)
    if (h.address !== undefined && !isIP(h.address) && (!DNS_NAME.test(h.address) || /^[\d.]+$/.test(h.address))) {
      errors.push({
        where: at('address'),
        field: `hosts[${i}].address`,
        message: `'${h.address}' is neither an IP address nor a DNS name`,
      });
    }
    const profile = pick('profile');
    if (!profile)
      errors.push({
        where: src.locate(['hosts', i], { key: true }),
        field: `hosts[${i}].profile`,
        message: `no profile for ${h.name}: set it on the host, one of its groups, or defaults`,
      });
    hosts.push({
      name: h.name,
      address: h.address ?? h.name,
      port: pick('port') ?? 22,
      user: pick('user') ?? 'root',
      profile: abs(profile) ?? '',
      hostname: h.hostname ?? pick('hostname') ?? h.name,
      groups: gs,
      labels: Object.assign({}, ...layers.map((l) => l.labels ?? {})) as Record<string, string>,
      ...(pick('identity') ? { identity: abs(pick('identity')) } : {}),
      ...(pick('knownHosts') ? { knownHosts: abs(pick('knownHosts')) } : {}),
      ...(pick('become') ? { become: true } : {}),
      ...(h.facts ? { facts: abs(h.facts) } : {}),
      where: src.locate(['hosts', i], { key: true }),
    });
  });
  // one machine, two entries: two updates of it at once
  const endpoints = new Map<string, number>();
  hosts.forEach((h, i) => {
    const key = `${canonicalAddress(h.address)}|${h.port}`;
    const prev = endpoints.get(key);
    if (prev === undefined) endpoints.set(key, i);
    else {
      const field = raw.hosts[i]!.address !== undefined ? 'address' : 'name';
      errors.push({
        where: src.locate(['hosts', i, field]),
        field: `hosts[${i}].${field}`,
        message: `${h.address} port ${h.port} is already hosts[${prev}] (${hosts[prev]!.name}): one machine would be updated twice at once`,
      });
    }
  });
  const r = raw.rollout ?? {};
  const duration = (v: string | number | undefined, def: number, field: string): number => {
    if (v === undefined) return def;
    const problem = (message: string): number => {
      errors.push({ where: src.locate(['rollout', 'healthGate', field]), field: `rollout.healthGate.${field}`, message });
      return def;
    };
    let ms: number;
    try {
      ms = parseDuration(v);
    } catch (e) {
      return problem(e instanceof Error ? e.message : String(e));
    }
    // at least 10 ms: 0 would poll the host without a pause
    return ms < 10 || ms > MAX_DURATION_MS ? problem(`must be between 10ms and ${formatDuration(MAX_DURATION_MS)}`) : ms;
  };
  const rollout: Rollout = {
    serial: r.serial,
    concurrency: r.concurrency,
    maxFailPercentage: r.maxFailPercentage ?? 0,
    maxPerLabel: r.maxPerLabel ?? {},
    connectRate: r.connectRate ?? 10,
    ...(r.healthGate
      ? {
          healthGate: {
            command: r.healthGate.command,
            timeoutMs: duration(r.healthGate.timeout, 60_000, 'timeout'),
            intervalMs: duration(r.healthGate.interval, 2000, 'interval'),
            checkTimeoutMs: duration(r.healthGate.checkTimeout, 30_000, 'checkTimeout'),
          },
        }
      : {}),
    vmmOnly: r.vmmOnly ?? false,
    phases: r.phases ?? 'all',
  };
  if (errors.length) return { errors: byPosition(errors) };
  return { value: { file, hosts, rollout }, errors: [] };
}

export function requireInventory(file: string): Inventory {
  const r = parseInventory(file, readInputFile(file, 'inventory', 'PROFILE_NOT_FOUND'));
  if (!r.value)
    throw new LiveupdateError(
      'PROFILE_INVALID',
      `${file}: ${r.errors.length} problem${r.errors.length === 1 ? '' : 's'} in the inventory; nothing was done`,
      { diagnostics: r.errors },
    );
  return r.value;
}

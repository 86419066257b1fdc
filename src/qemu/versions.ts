/**
 * Moving a VM to another QEMU: which machine type it runs, and whether the QEMU that restores it
 * may load state the running one saved. Pure.
 *
 * QEMU loads another version's state only when both sides run the same *versioned* machine type
 * (`pc-q35-7.2` on 10.0): an alias (`q35`) names each binary's newest type, so the VM is always
 * started on the type its alias names at that first start, and that type is kept across updates.
 */
import { parseVersion } from './mode.js';

/** `pc-q35-7.2`, `pc-i440fx-10.0`: a type whose device model is frozen at a release. */
export function isVersionedMachine(machine: string): boolean {
  return /-[0-9]+\.[0-9]+$/.test(machine);
}

/**
 * `-machine help` lines -> every type the binary has and what each alias names:
 * `q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)`.
 */
export function parseMachineHelp(text: string): { machines: string[]; aliases: Record<string, string> } {
  const machines: string[] = [];
  const aliases: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z0-9][a-z0-9_.-]*)\s+\S/.exec(line);
    if (!m || line.startsWith('Supported machines')) continue;
    machines.push(m[1]!);
    const alias = /\(alias of ([a-z0-9_.-]+)\)/.exec(line);
    if (alias) aliases[m[1]!] = alias[1]!;
  }
  return { machines, aliases };
}

/** The profile's machine as the binary will start it: an alias resolved, anything else as written. */
export function resolveMachine(machine: string, aliases: Record<string, string> | undefined): string {
  return aliases?.[machine] ?? machine;
}

/** `QEMU 7.2.22` -> `7.2`: the release series; stable updates within one keep the same device model. */
export function series(version: string): string {
  const p = parseVersion(version);
  return p ? `${p[0]}.${p[1]}` : version;
}

export interface TestedPair {
  from: string;
  to: string;
  /** the test that proves it, run by the test suite */
  proof: string;
}

/**
 * Upgrades seen to work: a VM saved by QEMU `from` restored by `to` on the same versioned machine
 * type, across a real kexec in the lab and in a VMM update. Only pairs the tests named exercise are here.
 */
export const TESTED_PAIRS: readonly TestedPair[] = [
  {
    from: '7.2',
    to: '10.0',
    proof:
      'test/lab/luo.test.ts (Debian 12 -> bookworm-backports, LUO, across a kexec), test/integration/qemu-upgrade.test.ts (VMM update)',
  },
  {
    from: '10.0',
    to: '11.1',
    proof:
      'test/lab/e2e.test.ts (bookworm-backports -> trixie-backports, pmem, across a kexec), test/lab/luo.test.ts (LUO), test/integration/qemu-upgrade.test.ts (VMM update), test/integration/cpr-transfer.test.ts (VMM update by cpr-transfer)',
  },
];

export type UpgradeVerdict =
  | { ok: true; kind: 'same' | 'series' | 'tested' | 'acknowledged'; why: string }
  /** `machine`: the VM's machine type is what must change; `qemu`: the QEMU that restores */
  | { ok: false; why: string; change: 'machine' | 'qemu' };

export interface UpgradeInput {
  from: { version: string; machine: string };
  to: { version: string; binary: string; machines: string[] | undefined };
  /** `A.B -> C.D` pairs the profile acknowledges as untested */
  acknowledged: readonly string[];
}

function compare(a: string, b: string): number {
  const x = parseVersion(a)!;
  const y = parseVersion(b)!;
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** May `to` load state `from` saved? A reason either way. */
export function judgeUpgrade(i: UpgradeInput): UpgradeVerdict {
  const { from, to } = i;
  if (!parseVersion(from.version) || !parseVersion(to.version))
    return { ok: false, change: 'qemu', why: `cannot compare QEMU versions '${from.version}' and '${to.version}'` };
  const c = compare(to.version, from.version);
  if (c === 0) return { ok: true, kind: 'same', why: `the same QEMU ${to.version}` };
  if (c < 0 && series(to.version) !== series(from.version))
    return { ok: false, change: 'qemu', why: `a downgrade: QEMU ${to.version} does not load state saved by the newer ${from.version}` };
  if (to.machines && to.machines.length && !to.machines.includes(from.machine)) {
    return {
      ok: false,
      change: 'qemu',
      why: `${to.binary} (QEMU ${to.version}) has no machine type ${from.machine}, which the VM runs: it cannot load its state`,
    };
  }
  if (series(to.version) === series(from.version))
    return { ok: true, kind: 'series', why: `a stable update within QEMU ${series(to.version)} (${from.version} -> ${to.version})` };
  if (!isVersionedMachine(from.machine)) {
    return {
      ok: false,
      change: 'machine',
      why: `machine type ${from.machine} is not versioned: QEMU ${from.version} and ${to.version} may build different device models for it; only a versioned type (pc-q35-X.Y, pc-i440fx-X.Y) moves between QEMU versions`,
    };
  }
  const pair = `${series(from.version)} -> ${series(to.version)}`;
  const tested = TESTED_PAIRS.find((p) => p.from === series(from.version) && p.to === series(to.version));
  if (tested) return { ok: true, kind: 'tested', why: `QEMU ${pair} on ${from.machine}, a tested pair: ${tested.proof}` };
  if (i.acknowledged.includes(pair))
    return {
      ok: true,
      kind: 'acknowledged',
      why: `QEMU ${pair} on ${from.machine} is not a tested pair; the profile accepts it (migration.acceptUntestedQemu)`,
    };
  return {
    ok: false,
    change: 'qemu',
    why: `QEMU ${pair} is not a pair liveupdate has seen work (tested: ${TESTED_PAIRS.map((p) => `${p.from} -> ${p.to}`).join(', ')}); to try it anyway add '${pair}' to migration.acceptUntestedQemu`,
  };
}

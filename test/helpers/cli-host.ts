/**
 * This machine as a "host" for CLI runs: a real loop-mounted ext4 stands in for the pmem
 * filesystem, and the saved facts are this machine's real facts with one edit (the test double):
 * that mount is reported as an active 1G pmem carve-out at 16G. VMs are real QEMU counter guests.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gatherFacts } from '../../src/facts/gather.js';
import type { HostFacts } from '../../src/facts/types.js';
import { LocalHost } from '../../src/host/local.js';
import { ROOT } from './paths.js';
import { killTaggedQemu, taggedQemuPids, vmStartSteps, withActivePmem } from './local-qemu.js';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { QmpClient, qemuIdentity } from '../../src/qemu/qmp.js';
import { QmpPool } from '../../src/qemu/pool.js';
import { readCounter } from '../../src/lab/counter.js';
import { makePlan } from '../../src/plan/planner.js';
import { requireProfile } from '../../src/profile/load.js';
import { readFactsFile } from '../../src/facts/file.js';
import { runSteps } from '../../src/exec/engine.js';
import { parseJournal, type JournalRecord } from '../../src/exec/journal.js';
import { tempDir } from './temp.js';

export interface CliHost {
  dir: string;
  mount: string;
  profile: string;
  facts: string;
  names: string[];
  qmp: (vm: string) => string;
  counterInRamFile: (vm: string) => bigint;
  qemuPids: () => number[];
  /** the CLI as a child; `onLine` sees each stdout line and may signal it (SIGKILL unless said); `env` is added to its environment */
  cli: (
    args: string[],
    onLine?: (line: string, kill: (signal?: NodeJS.Signals) => void) => void,
    env?: NodeJS.ProcessEnv,
  ) => Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
  cleanup: () => void;
  /** probe again for the profile (its VMs running now) and save the facts where `facts` points, edited the same way */
  refreshFacts: () => Promise<void>;
}

let seq = 0;

/**
 * `qemuWrapper`: the VMs run `<dir>/qemu`, this shell script (it runs the real QEMU itself), and the
 * facts file names it with the real QEMU's version: a test makes QEMU fail at an exact point with it.
 */
/** `spin`: counter guests that count as fast as they can (bench:cpr's stopwatch); by default they count 100 Hz ticks and idle. */
export async function cliHost(opts: {
  vms: number;
  qemuWrapper?: string;
  qemu?: { binary: string; restoreBinary?: string; machine?: string };
  migrationMode?: string;
  /** the profile's migration.timeout (default 60s) */
  migrationTimeout?: string;
  spin?: boolean;
  /** each VM's RAM (default 32) and how much of it its guest fills at boot (counter-img.py --fill), in MiB */
  memoryMiB?: number;
  fillMiB?: number;
}): Promise<CliHost> {
  const dir = tempDir('/var/tmp/lu-cli-');
  const binary = opts.qemuWrapper ? join(dir, 'qemu') : undefined;
  if (binary) writeFileSync(binary, opts.qemuWrapper!, { mode: 0o755 });
  const mount = join(dir, 'pmem');
  mkdirSync(mount);
  const memory = opts.memoryMiB ?? 32;
  // sparse: room for every VM's RAM file and state, never less than 512M
  execFileSync('truncate', ['-s', `${Math.max(512, opts.vms * memory * 2 + 256)}M`, join(dir, 'fs.img')]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', join(dir, 'fs.img')]);
  execFileSync('mount', ['-o', 'loop', join(dir, 'fs.img'), mount]);
  const tag = `cl${process.pid}x${seq++}`;
  const names = Array.from({ length: opts.vms }, (_, i) => `${tag}v${i}`);
  const q = opts.qemu;
  const qemuFields = `${binary ? `binary: ${binary}, ` : q ? `binary: ${q.binary}, ` : ''}${q?.restoreBinary ? `restoreBinary: ${q.restoreBinary}, ` : ''}machine: ${q?.machine ?? 'pc'}, `;
  for (const n of names)
    execFileSync('python3', [
      join(ROOT, 'lab/image/counter-img.py'),
      join(dir, `${n}.img`),
      ...(opts.spin ? ['--spin'] : []),
      ...(opts.fillMiB ? ['--fill', String(opts.fillMiB)] : []),
    ]);
  const vms = names
    .map(
      (n) =>
        `  - name: ${n}\n    memory: ${memory}M\n    qemu: {${qemuFields}accel: tcg, args: [-nodefaults, -display, none, -drive, "file=${dir}/${n}.img,format=raw,if=ide"]}\n`,
    )
    .join('');
  const profile = join(dir, 'profile.yaml');
  writeFileSync(
    profile,
    `version: 1\nhost: {name: clihost}\npersistence: {backend: pmem, size: 1G, offset: 16G, mount: ${mount}}\nkexec: {kernel: /bin/true}\nmigration: {stateDir: ${mount}/state, timeout: ${opts.migrationTimeout ?? '60s'}${opts.migrationMode ? `, mode: ${opts.migrationMode}` : ''}}\njournal: {dir: ${dir}/journal}\nruntime: {dir: ${dir}/run}\nvms:\n${vms}`,
  );
  // with `qemu`: the profile's own probe (its QEMUs' versions and machine types, its VMs once they run)
  const real = await gatherFacts(new LocalHost(), q ? requireProfile(profile).profile : undefined);
  const edited = (f: HostFacts): HostFacts => ({ ...withActivePmem(f, 'clihost'), files: { '/bin/true': 1 } });
  const facts = { ...edited(real), ...(binary ? { qemu: [...real.qemu, { binary, version: real.qemu[0]?.version }] } : {}) };
  const factsFile = join(dir, 'facts.json');
  writeFileSync(factsFile, JSON.stringify(facts));
  return {
    dir,
    mount,
    profile,
    facts: factsFile,
    names,
    qmp: (vm) => `${dir}/run/vms/${vm}/qmp.sock`,
    counterInRamFile: (vm) => readFileSync(join(mount, `${vm}.ram`)).readBigUInt64LE(0x7e00),
    qemuPids: () => taggedQemuPids(tag),
    cli: (args, onLine, env) =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [join(ROOT, 'bin/liveupdate.js'), ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
          ...(env ? { env: { ...process.env, ...env } } : {}),
        });
        let stdout = '';
        let stderr = '';
        let buf = '';
        const kill = (signal: NodeJS.Signals = 'SIGKILL'): void => void child.kill(signal);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          buf += d.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            onLine?.(line, kill);
          }
        });
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      }),
    refreshFacts: async () => {
      const now = await gatherFacts(new LocalHost(), requireProfile(profile).profile);
      writeFileSync(factsFile, JSON.stringify(edited(now)));
    },
    cleanup: () => {
      killTaggedQemu(tag);
      execFileSync('sleep', ['0.3']);
      try {
        execFileSync('umount', [mount]);
      } catch {
        /* not mounted */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Ask the VM's QEMU over its own QMP socket, on a connection of its own. */
async function ask<T>(h: CliHost, vm: string, question: (c: QmpClient) => Promise<T>): Promise<T> {
  const c = await QmpClient.connectUnix(h.qmp(vm));
  try {
    return await question(c);
  } finally {
    await c.close();
  }
}

export const counter = (h: CliHost, vm: string): Promise<{ status: string; value: bigint }> => ask(h, vm, readCounter);

/** The QEMU running the VM now: version and machine type. */
export const identity = (h: CliHost, vm: string): Promise<{ version: string; machine: string }> => ask(h, vm, qemuIdentity);

export async function prepare(h: CliHost): Promise<void> {
  // the prepare phase's VM part: RAM files, state dir, VMs started (its carve-out checks read the real cmdline)
  const { profile, locate } = requireProfile(h.profile);
  const plan = makePlan({ profile, facts: await readFactsFile(h.facts), phases: 'prepare', locate });
  const steps = vmStartSteps(plan.steps);
  const host = new LocalHost();
  const env = {
    host,
    qmp: new QmpPool(host),
    outcomes: new Map(),
    vars: Object.fromEntries(plan.vms.map((v) => [`qmp.${v.name}`, v.qmp])),
  };
  const r = await runSteps(steps, env, () => undefined);
  await env.qmp.closeAll();
  assert.ok(r.ok, JSON.stringify(r.failures.map((f) => f.error.message)));
  assert.equal(h.qemuPids().length, h.names.length);
}

export function journal(h: CliHost): JournalRecord[] {
  return openRunJournal(join(h.dir, 'journal'));
}

/** The records of the run journalled in `dir` (its one `.journal` file), read as liveupdate reads them: a torn last line (a CLI killed inside a write) is no record. */
export function openRunJournal(dir: string): JournalRecord[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.journal'));
  return parseJournal(readFileSync(join(dir, files[0]!), 'utf8'), files[0]!);
}

/** After a crash and the re-runs: the VM runs with its memory, nothing unsafe ran twice, one QEMU. */
export async function assertRecovered(h: CliHost, vm: string, at: string): Promise<void> {
  const stopped = h.counterInRamFile(vm);
  await new Promise((r) => setTimeout(r, 300));
  const c = await counter(h, vm);
  assert.equal(c.status, 'running', at);
  assert.ok(c.value >= stopped, `${at}: memory intact (counter ${c.value} >= ${stopped})`);
  const recs = journal(h);
  for (const id of ['suspend/clear-state/', 'resume/restart/', 'resume/load/']) {
    const runs = recs.filter((r) => r.type === 'step-end' && r.id === `${id}${vm}` && r.result === 'ok').length;
    assert.ok(runs <= 1, `${at}: ${id}${vm} ran ${runs} times`);
  }
  assert.equal(h.qemuPids().length, 1, `${at}: exactly one QEMU for the VM`);
}

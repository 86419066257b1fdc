/**
 * The demo: a real live update in a lab VM, for someone who has not read a line of YAML yet.
 * It builds (or reuses) the lab image, boots a lab host under QEMU, starts the counter guest with
 * `prepare`, and updates the host with `run` — the same updateHost path (src/app/update.ts) `liveupdate run
 * --host` takes, through the host's agent — then shows the host's kernel and boot before and after, the guest's counter, and
 * where the blackout went.
 */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DemoBackend } from '../defaults.js';
import { LiveupdateError } from '../errors.js';
import { blackoutBreakdown, type BlackoutBreakdown, type ExecEvent } from '../exec/events.js';
import type { ExecuteResult } from '../exec/executor.js';
import { journalFile } from '../exec/journal.js';
import { SshHost, parseTarget } from '../host/ssh.js';
import { counterOn } from '../lab/counter.js';
import {
  bootLab,
  ensureLabImage,
  ensureLabKernel,
  labImageCached,
  labKernelCached,
  LAB_CACHE,
  LAB_LUO_PROFILE,
  LAB_PKERNFS_PROFILE,
  LAB_PROFILE,
  type LabHost,
  type LabKernel,
} from '../lab/lab.js';
import { demoPreflight } from '../lab/preflight.js';
import type { PhaseSelection } from '../plan/planner.js';
import { requireProfile } from '../profile/load.js';
import { isDetached, isExecuted, updateHost, type UpdateListener, type UpdateRequest } from './update.js';

const VM = 'counter';

/** What differs between the demo's backends: the lab host's kernel and image, the profile, and what the stages say. */
const BACKENDS: Record<
  DemoBackend,
  { kernel: LabKernel; profile: string; kernelTitle?: string; image: string; boot: (port: number) => string; prepare: string }
> = {
  pmem: {
    kernel: 'debian',
    profile: LAB_PROFILE,
    image: 'Lab image: Debian 12 host with QEMU, kexec-tools, ndctl, OpenSSH',
    boot: (port) => `Boot the lab host under QEMU (TCG): 2 GiB, 256 MiB of pmem at 1 GiB, SSH on 127.0.0.1:${port}`,
    prepare: 'Start the guest: `liveupdate prepare` (mount pmem, RAM file, QEMU)',
  },
  luo: {
    kernel: 'luo',
    profile: LAB_LUO_PROFILE,
    kernelTitle: "LUO lab kernel: Linux 7.2 from Debian's linux-source-7.2 with KHO, LUO, iommufd and KVM",
    image: 'Lab image: Debian 12 host with QEMU, kexec-tools, ndctl, OpenSSH, the LUO kernel',
    boot: (port) => `Boot the lab host under QEMU (TCG): Linux 7.2 with kho=on liveupdate=on, 2 GiB, SSH on 127.0.0.1:${port}`,
    prepare: 'Start the guest: `liveupdate prepare` (LUO holder: memfd in a session, QEMU on it)',
  },
  pkernfs: {
    kernel: 'pkernfs',
    profile: LAB_PKERNFS_PROFILE,
    kernelTitle: "pkernfs lab kernel: the Feb 2024 pkernfs RFC on Debian 12's linux-source-6.1",
    image: 'Lab image: Debian 12 host with QEMU, kexec-tools, OpenSSH, the pkernfs kernel',
    boot: (port) => `Boot the lab host under QEMU (TCG): the pkernfs kernel, 512 MiB of pkernfs at 1 GiB, 2 GiB, SSH on 127.0.0.1:${port}`,
    prepare: 'Start the guests: `liveupdate prepare` (mount pkernfs, RAM files, QEMU)',
  },
};

export interface Snapshot {
  kernel: string;
  bootId: string;
  vmStatus: string;
  /** the guest's 64-bit count, as a decimal string */
  counter: string;
  at: number;
}

export interface DemoResult {
  type: 'demo';
  ok: boolean;
  backend: DemoBackend;
  continued: boolean;
  newBoot: boolean;
  before: Snapshot;
  after: Snapshot;
  blackout: BlackoutBreakdown & { vm: string };
  runId: string;
  /** a copy of the host's journal, taken after the run */
  journal: string;
  /** where the journal is on the lab host */
  journalOnHost: string;
  stagesMs: Record<string, number>;
  lab: {
    kept: boolean;
    target: string;
    port: number;
    pid?: number;
    identity: string;
    knownHosts: string;
    profile: string;
    serialLog: string;
  };
}

/** What the demo shows while it runs: its stages, and a listener for each liveupdate command it runs (`log` draws under the current stage). */
export interface DemoUi {
  stages: { run<T>(title: string, estimate: string, fn: (log: (line: string) => void) => Promise<T>): Promise<T> };
  listener(log: (line: string) => void): UpdateListener;
}

/** The listener, with every executor event also handed to `collect`. */
function collecting(l: UpdateListener, collect: (e: ExecEvent) => void): UpdateListener {
  return {
    ...l,
    progress: (plan) => {
      const r = l.progress(plan);
      return {
        emit: (e) => {
          collect(e);
          r.emit(e);
        },
        ...(r.finish ? { finish: () => r.finish!() } : {}),
      };
    },
  };
}

/** The lab host's kernel, boot and the guest's counter, read over a fresh SSH connection. */
async function snapshot(lab: LabHost, journal?: { journal: string; copy: string }): Promise<Snapshot> {
  const ssh = new SshHost(parseTarget(lab.target), { identity: lab.identity, knownHosts: lab.knownHosts });
  try {
    if (journal) {
      mkdirSync(dirname(journal.copy), { recursive: true });
      writeFileSync(journal.copy, await ssh.fetch(journal.journal));
    }
    const r = await ssh.exec(['sh', '-c', 'uname -r; cat /proc/sys/kernel/random/boot_id'], { timeoutMs: 30_000 });
    const [kernel = '', bootId = ''] = r.stdout.trim().split('\n');
    const c = await counterOn(ssh, `/run/liveupdate/vms/${VM}/qmp.sock`, `lab-${VM}`);
    return { kernel, bootId, vmStatus: c.status, counter: c.value.toString(), at: Date.now() };
  } finally {
    await ssh.close();
  }
}

/** Boot a lab host, start the counter guest, update the host under it, and tell what happened. Needs root. */
export async function runDemo(opts: { backend: DemoBackend; keep: boolean; port: number; count: number }, ui: DemoUi): Promise<DemoResult> {
  const { port, count, keep } = opts;
  const problems = await demoPreflight({ port });
  if (problems.length) {
    throw new LiveupdateError('LAB_UNAVAILABLE', 'this machine cannot run the demo yet; nothing was changed', {
      diagnostics: problems.map((p) => ({ message: `${p.what}; ${p.fix}` })),
    });
  }
  const { stages } = ui;
  const stagesMs: Record<string, number> = {};
  const timed = async <T>(key: string, title: string, estimate: string, fn: (log: (line: string) => void) => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await stages.run(title, estimate, fn);
    } finally {
      stagesMs[key] = Date.now() - t0;
    }
  };

  const b = BACKENDS[opts.backend];
  const { kernel } = b;
  if (kernel !== 'debian') {
    await timed('kernel', b.kernelTitle!, labKernelCached(kernel) ? 'cached: seconds' : 'first time: 10-15 min on 2 cores', (log) =>
      ensureLabKernel(kernel, log),
    );
  }
  await timed('image', b.image, labImageCached(kernel) ? 'cached: seconds' : 'first time: 2-5 min (Debian packages, debootstrap)', (log) =>
    ensureLabImage(log, kernel),
  );
  const lab = await timed('boot', b.boot(port), 'under a minute', () => bootLab('demo', { port, kernel, keep, cold: true }));
  // a Ctrl-C or a failure does not leave the 2 GiB VM behind unless --keep: bootLab ties it to this process (src/lab/leases.ts)
  let demo: DemoResult | undefined;
  let failed = false;
  const consoleCopy = join(LAB_CACHE, 'demo', 'serial.log');
  try {
    // as `liveupdate run --host` does by default: the host's agent runs each plan, and at boot the resume
    const profilePath = b.profile;
    const onHost = journalFile(requireProfile(profilePath).profile.journal.dir, 'lab');
    const copy = join(LAB_CACHE, 'demo', 'lab.journal');
    rmSync(copy, { force: true });
    rmSync(consoleCopy, { force: true });
    const execOpts: UpdateRequest = {
      profile: profilePath,
      host: lab.target,
      identity: lab.identity,
      knownHosts: lab.knownHosts,
      agent: true,
      // the lab host kexecs into the kernel it booted (one image): that host is up to date already, and
      // a run would have nothing to do; the demo shows the update all the same
      force: true,
    };
    const events: ExecEvent[] = [];
    const phases = async (name: string, sel: PhaseSelection, log: (line: string) => void): Promise<ExecuteResult> => {
      const r = await updateHost(
        name,
        sel,
        execOpts,
        collecting(ui.listener(log), (e) => events.push(e)),
      );
      if (!isExecuted(r) || !r.ok) {
        const why = isDetached(r)
          ? `the lab host went silent and the demo stopped following it (${r.detached.why})`
          : isExecuted(r)
            ? r.failures.map((f) => `${f.id}: ${f.message}`).join('; ')
            : 'it only planned';
        failed = true;
        throw new LiveupdateError('STEP_FAILED', `liveupdate ${name} on the lab host failed: ${why}`, {
          hint: `the journal is on the lab host (${onHost}); its console is kept in ${consoleCopy}; re-run with --keep to log in to the lab host and look`,
        });
      }
      return r;
    };
    await timed('prepare', b.prepare, 'about 15 s', (log) => phases('prepare', 'prepare', log));
    await timed('count', `Let the guest count for ${count} s`, `${count} s`, () => sleep(count * 1000));
    const before = await timed('before', 'Before: kernel, boot_id, guest counter', 'seconds', () => snapshot(lab));
    const result = await timed(
      'run',
      "Live update: `liveupdate run --host`, run by the host's agent (stage kernel, pause + save, kexec; at boot: restore, continue)",
      '30 s to 2 min: the new kernel boots under emulation',
      (log) => phases('run', 'all', log),
    );
    // with the host's journal, copied here: the lab host goes at teardown
    const after = await timed('after', 'After: kernel, boot_id, guest counter', 'seconds', () => snapshot(lab, { journal: onHost, copy }));
    const breakdown = blackoutBreakdown(events, VM);
    if (!breakdown) throw new LiveupdateError('STEP_FAILED', 'the run finished without recording every step of the blackout window');
    const continued = after.vmStatus === 'running' && BigInt(after.counter) > BigInt(before.counter);
    const newBoot = after.bootId !== before.bootId;
    demo = {
      type: 'demo',
      ok: continued && newBoot,
      backend: opts.backend,
      continued,
      newBoot,
      before,
      after,
      blackout: { vm: VM, ...breakdown },
      runId: result.runId,
      journal: copy,
      journalOnHost: onHost,
      stagesMs,
      lab: {
        kept: keep,
        target: lab.target,
        port,
        ...(keep && lab.proc.pid ? { pid: lab.proc.pid } : {}),
        identity: lab.identity,
        knownHosts: lab.knownHosts,
        profile: b.profile,
        serialLog: lab.serialLog,
      },
    };
  } finally {
    // the lab host's console outlives it when the run failed: what its kernel said is the first thing to read
    if (failed) {
      mkdirSync(dirname(consoleCopy), { recursive: true });
      try {
        copyFileSync(lab.serialLog, consoleCopy);
      } catch {
        /* no console written: the hint names the path all the same */
      }
    }
    if (!keep) await timed('teardown', 'Tear down the lab host', 'seconds', () => lab.stop());
  }
  return demo;
}

/**
 * `liveupdate demo`: a real live update in a lab VM, for someone who has not read a line of YAML yet.
 * It builds (or reuses) the lab image, boots a lab host under QEMU, starts the counter guest with
 * `prepare`, and updates the host with `run` over SSH — the same updateHost path (src/app/update.ts) `liveupdate run
 * --host` takes — then shows the host's kernel and boot before and after, the guest's counter, and
 * where the blackout went.
 */
import type { Command } from 'commander';
import { rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LiveupdateError } from '../../errors.js';
import { blackoutBreakdown, type BlackoutBreakdown, type ExecEvent } from '../../exec/events.js';
import type { ExecuteResult } from '../../exec/executor.js';
import { journalFile } from '../../exec/journal.js';
import { SshHost, parseTarget } from '../../host/ssh.js';
import { counterOn } from '../../lab/counter.js';
import { bootLab, ensureLabImage, ensureLuoKernel, labImageCached, luoKernelCached, LAB_CACHE, LAB_LUO_PROFILE, LAB_PROFILE, PACKAGE_ROOT, type LabHost } from '../../lab/lab.js';
import { demoPreflight } from '../../lab/preflight.js';
import type { PhaseSelection } from '../../plan/planner.js';
import { plainLine } from '../../report/progress.js';
import { jsonStages, plainStages, ttyStages, type Stages } from '../../report/stages.js';
import { EXIT, type Output } from '../output.js';
import { isExecuted, updateHost, type UpdateRequest } from '../../app/update.js';
import { cliListener } from './execute.js';

export const DEMO_PORT = 10022;
const VM = 'counter';

interface DemoOpts {
  backend: string;
  keep?: boolean;
  port: string;
  count: string;
}

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
  backend: 'pmem' | 'luo';
  continued: boolean;
  newBoot: boolean;
  before: Snapshot;
  after: Snapshot;
  blackout: BlackoutBreakdown & { vm: string };
  runId: string;
  journal: string;
  stagesMs: Record<string, number>;
  lab: { kept: boolean; target: string; port: number; pid?: number; identity: string; knownHosts: string; profile: string; serialLog: string };
}

/** The lab host's kernel, boot and the guest's counter, read over a fresh SSH connection. */
async function snapshot(lab: LabHost): Promise<Snapshot> {
  const ssh = new SshHost(parseTarget(lab.target), { identity: lab.identity, knownHosts: lab.knownHosts });
  try {
    const r = await ssh.exec(['sh', '-c', 'uname -r; cat /proc/sys/kernel/random/boot_id'], { timeoutMs: 30_000 });
    const [kernel = '', bootId = ''] = r.stdout.trim().split('\n');
    const c = await counterOn(ssh, `/run/liveupdate/${VM}.qmp`, `lab-${VM}`);
    return { kernel, bootId, vmStatus: c.status, counter: c.value.toString(), at: Date.now() };
  } finally {
    await ssh.close();
  }
}

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const inPackage = (): boolean => process.cwd() === PACKAGE_ROOT.replace(/\/$/, '');
const rel = (p: string): string => (p.startsWith(PACKAGE_ROOT) && inPackage() ? relative(PACKAGE_ROOT, p) : p);

export function renderDemo(d: DemoResult): string {
  const b = d.blackout;
  const me = inPackage() ? './bin/liveupdate.js' : 'liveupdate';
  const row = (label: string, x: Snapshot): string => `  ${label.padEnd(8)}${x.kernel.padEnd(20)}${x.bootId.padEnd(40)}${x.counter.padStart(14)} (${x.vmStatus})`;
  const ssh = `ssh -i ${rel(d.lab.identity)} -o UserKnownHostsFile=${rel(d.lab.knownHosts)} -p ${d.lab.port} root@127.0.0.1`;
  const hostArgs = `--host ${d.lab.target} --identity ${rel(d.lab.identity)} --known-hosts ${rel(d.lab.knownHosts)}`;
  return [
    '',
    d.ok ? "The lab host's kernel was replaced under a running VM, and the VM kept its memory." : 'The live update did NOT keep the VM: see below.',
    '',
    `  ${''.padEnd(8)}${'kernel'.padEnd(20)}${'boot_id'.padEnd(40)}${'guest counter'.padStart(14)}`,
    row('before', d.before),
    row('after', d.after),
    `  ${d.newBoot ? 'a new boot (kexec)' : 'THE SAME BOOT: no kexec happened'}; ${d.continued ? 'the counter continued from where it was (a restarted guest counts from 0 again)' : 'the counter did NOT continue'}`,
    '',
    `blackout of VM ${b.vm}: ${s(b.windowMs)}`,
    `  QEMU save      ${s(b.qemuSaveMs).padStart(8)}   device state written ${d.backend === 'luo' ? 'to disk (RAM stays in a memfd preserved by LUO)' : 'to pmem (RAM stays where it is)'}`,
    `  kexec + boot   ${s(b.kexecMs).padStart(8)}   kexec -e until the new kernel answers SSH (emulated with TCG here: slow)`,
    `  QEMU restore   ${s(b.qemuRestoreMs).padStart(8)}   new QEMU started on the same ${d.backend === 'luo' ? 'memfd (retrieved from its session)' : 'RAM file'}, state loaded`,
    `  orchestrator   ${s(b.orchestratorMs).padStart(8)}   liveupdate's own SSH round trips and checks inside the window`,
    '',
    `journal: ${rel(d.journal)}`,
    `  ${me} status --profile ${rel(d.lab.profile)} --host ${d.lab.target} --journal-dir ${rel(join(d.journal, '..'))}`,
    ...(d.lab.kept
      ? [
          '',
          `the lab host is still running (pid ${d.lab.pid}); log in with:`,
          `  ${ssh}`,
          'plan or run another update on it with the profile the demo used:',
          `  ${me} plan --profile ${rel(d.lab.profile)} ${hostArgs}`,
          `stop it with: kill ${d.lab.pid}`,
        ]
      : ['', 'the lab host was torn down (--keep leaves it running to log in)']),
    '',
  ].join('\n');
}

export function registerDemo(program: Command, out: () => Output, setExit: (c: number) => void): void {
  program
    .command('demo')
    .description('a real live update in a lab VM: boots a lab host under QEMU, runs a guest, replaces the host kernel under it over SSH, shows the guest kept its memory (needs root; first run builds the lab image, a few minutes)')
    .option('--backend <name>', 'pmem (Debian 12 kernel, guest RAM in legacy pmem) or luo (Linux 7.2 built once, ~12 min; guest RAM in a preserved memfd)', 'pmem')
    .option('--keep', 'leave the lab host running afterwards, with the SSH command to log in')
    .option('--port <n>', "loopback port for the lab host's SSH", String(DEMO_PORT))
    .option('--count <seconds>', 'how long the guest counts before the update', '10')
    .action(async (opts: DemoOpts) => {
      const o = out();
      if (opts.backend !== 'pmem' && opts.backend !== 'luo') throw new LiveupdateError('USAGE', `--backend ${opts.backend}: expected pmem or luo`);
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LiveupdateError('USAGE', `--port ${opts.port}: expected a TCP port number`);
      const count = Number(opts.count);
      if (!Number.isFinite(count) || count < 1 || count > 600) throw new LiveupdateError('USAGE', `--count ${opts.count}: expected seconds between 1 and 600`);
      const problems = await demoPreflight({ port });
      if (problems.length) {
        throw new LiveupdateError('LAB_UNAVAILABLE', 'this machine cannot run the demo yet; nothing was changed', {
          diagnostics: problems.map((p) => ({ message: `${p.what}; ${p.fix}` })),
        });
      }
      const stages: Stages = o.json ? jsonStages((e) => o.event(e)) : process.stderr.isTTY === true && !process.env['CI'] ? ttyStages() : plainStages((t) => process.stderr.write(t));
      const stagesMs: Record<string, number> = {};
      const timed = async <T>(key: string, title: string, estimate: string, fn: (log: (line: string) => void) => Promise<T>): Promise<T> => {
        const t0 = Date.now();
        try {
          return await stages.run(title, estimate, fn);
        } finally {
          stagesMs[key] = Date.now() - t0;
        }
      };

      const luo = opts.backend === 'luo';
      if (luo) {
        await timed('kernel', 'LUO lab kernel: Linux 7.2 from Debian\'s linux-source-7.2 with KHO, LUO and iommufd', luoKernelCached() ? 'cached: seconds' : 'first time: about 12 min on 2 cores', (log) => ensureLuoKernel(log));
      }
      const kernel = luo ? 'luo' : 'debian';
      await timed('image', `Lab image: Debian 12 host with QEMU, kexec-tools, ndctl, OpenSSH${luo ? ', the LUO kernel' : ''}`, labImageCached(kernel) ? 'cached: seconds' : 'first time: 2-5 min (Debian packages, debootstrap)', (log) => ensureLabImage(log, kernel));
      const lab = await timed(
        'boot',
        luo ? `Boot the lab host under QEMU (TCG): Linux 7.2 with kho=on liveupdate=on, 2 GiB, SSH on 127.0.0.1:${port}` : `Boot the lab host under QEMU (TCG): 2 GiB, 256 MiB of pmem at 1 GiB, SSH on 127.0.0.1:${port}`,
        'under a minute',
        () => bootLab('demo', { port, kernel, keep: opts.keep === true }),
      );
      // a Ctrl-C or a failure does not leave the 2 GiB VM behind unless --keep: bootLab ties it to this process (src/lab/leases.ts)
      let demo: DemoResult | undefined;
      try {
        const journalDir = join(LAB_CACHE, 'demo', 'journal');
        rmSync(journalDir, { recursive: true, force: true });
        const execOpts: UpdateRequest = { profile: luo ? LAB_LUO_PROFILE : LAB_PROFILE, host: lab.target, identity: lab.identity, knownHosts: lab.knownHosts, journalDir };
        const events: ExecEvent[] = [];
        const phases = async (name: string, sel: PhaseSelection, log: (line: string) => void): Promise<ExecuteResult> => {
          const r = await updateHost(
            name,
            sel,
            execOpts,
            cliListener(o, () => ({
              emit: (e) => {
                events.push(e);
                if (o.json) o.event(e);
                const line = plainLine(e);
                if (line) log(line.trimEnd());
              },
            })),
          );
          if (!isExecuted(r) || !r.ok) {
            throw new LiveupdateError('STEP_FAILED', `liveupdate ${name} on the lab host failed: ${(!isExecuted(r) ? [] : r.failures).map((f) => `${f.id}: ${f.message}`).join('; ')}`, {
              hint: `the journal is ${journalFile(journalDir, 'lab')}; re-run with --keep to log in to the lab host and look (its console: ${lab.serialLog})`,
            });
          }
          return r;
        };
        await timed('prepare', luo ? 'Start the guest: `liveupdate prepare` (LUO holder: memfd in a session, QEMU on it)' : 'Start the guest: `liveupdate prepare` (mount pmem, RAM file, QEMU)', 'about 15 s', (log) => phases('prepare', 'prepare', log));
        await timed('count', `Let the guest count for ${count} s`, `${count} s`, () => sleep(count * 1000));
        const before = await timed('before', 'Before: kernel, boot_id, guest counter', 'seconds', () => snapshot(lab));
        const result = await timed('run', 'Live update: `liveupdate run` over SSH (stage kernel, pause + save, kexec, restore, continue)', '30 s to 2 min: the new kernel boots under emulation', (log) => phases('run', 'all', log));
        const after = await timed('after', 'After: kernel, boot_id, guest counter', 'seconds', () => snapshot(lab));
        const breakdown = blackoutBreakdown(events, VM);
        if (!breakdown) throw new LiveupdateError('STEP_FAILED', 'the run finished without recording every step of the blackout window');
        const continued = after.vmStatus === 'running' && BigInt(after.counter) > BigInt(before.counter);
        const newBoot = after.bootId !== before.bootId;
        demo = {
          type: 'demo',
          ok: continued && newBoot,
          backend: luo ? 'luo' : 'pmem',
          continued,
          newBoot,
          before,
          after,
          blackout: { vm: VM, ...breakdown },
          runId: result.runId,
          journal: journalFile(journalDir, 'lab'),
          stagesMs,
          lab: { kept: opts.keep === true, target: lab.target, port, ...(opts.keep && lab.proc.pid ? { pid: lab.proc.pid } : {}), identity: lab.identity, knownHosts: lab.knownHosts, profile: luo ? LAB_LUO_PROFILE : LAB_PROFILE, serialLog: lab.serialLog },
        };
      } finally {
        if (!opts.keep) await timed('teardown', 'Tear down the lab host', 'seconds', () => lab.stop());
      }
      if (!demo) return; // unreachable: the try block either set it or threw
      o.result(renderDemo(demo), demo);
      if (!demo.ok) setExit(EXIT.error);
    });
}

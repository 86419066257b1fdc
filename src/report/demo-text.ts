/** `liveupdate demo`'s account for people: before and after, where the blackout went, what to run next. */
import { relative } from 'node:path';
import type { DemoResult, Snapshot } from '../app/demo.js';
import { PACKAGE_ROOT } from '../lab/lab.js';

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const inPackage = (): boolean => process.cwd() === PACKAGE_ROOT.replace(/\/$/, '');
const rel = (p: string): string => (p.startsWith(PACKAGE_ROOT) && inPackage() ? relative(PACKAGE_ROOT, p) : p);

/** Per backend: where a VM's pause writes its device state (and where its RAM stays), and what its new QEMU starts on. */
const WORDS: Record<DemoResult['backend'], { saved: string; restoredOn: string }> = {
  pmem: { saved: 'to pmem (RAM stays where it is)', restoredOn: 'RAM file' },
  luo: { saved: 'to disk (RAM stays in a memfd preserved by LUO)', restoredOn: 'memfd (retrieved from its session)' },
  pkernfs: {
    saved: 'to disk (RAM stays in its pkernfs file; fingerprinted)',
    restoredOn: 'pkernfs file (never truncated), its RAM checked first',
  },
};

export function renderDemo(d: DemoResult): string {
  const b = d.blackout;
  const me = inPackage() ? './bin/liveupdate.js' : 'liveupdate';
  const row = (label: string, x: Snapshot): string =>
    `  ${label.padEnd(8)}${x.kernel.padEnd(20)}${x.bootId.padEnd(40)}${x.counter.padStart(14)} (${x.vmStatus})`;
  const ssh = `ssh -i ${rel(d.lab.identity)} -o UserKnownHostsFile=${rel(d.lab.knownHosts)} -p ${d.lab.port} root@127.0.0.1`;
  const hostArgs = `--host ${d.lab.target} --identity ${rel(d.lab.identity)} --known-hosts ${rel(d.lab.knownHosts)}`;
  return [
    '',
    d.ok
      ? "The lab host's kernel was replaced under a running VM, and the VM kept its memory."
      : 'The live update did NOT keep the VM: see below.',
    '',
    `  ${''.padEnd(8)}${'kernel'.padEnd(20)}${'boot_id'.padEnd(40)}${'guest counter'.padStart(14)}`,
    row('before', d.before),
    row('after', d.after),
    `  ${d.newBoot ? 'a new boot (kexec)' : 'THE SAME BOOT: no kexec happened'}; ${d.continued ? 'the counter continued from where it was (a restarted guest counts from 0 again)' : 'the counter did NOT continue'}`,
    '',
    `blackout of VM ${b.vm}: ${s(b.windowMs)}`,
    `  QEMU save      ${s(b.qemuSaveMs).padStart(8)}   device state written ${WORDS[d.backend].saved}`,
    `  kexec + boot   ${s(b.kexecToRestoreMs).padStart(8)}   kexec -e until the restore starts: the new kernel and init (emulated with TCG here: slow), the agent's start, ${s(b.bootToRestoreMs)} of mounts and checks after the boot's proof`,
    `  QEMU restore   ${s(b.qemuRestoreMs).padStart(8)}   new QEMU started on the same ${WORDS[d.backend].restoredOn}, state loaded`,
    `  orchestrator   ${s(b.orchestratorMs).padStart(8)}   liveupdate's own steps and gaps in the window: pause, checks, quit, ${d.backend === 'pmem' ? 'unmount, ' : ''}sync, cont (on the host: the agent; no control node)`,
    '',
    `journal: ${d.lab.kept ? `${d.journalOnHost} on the lab host; ` : ''}copied to ${rel(d.journal)}`,
    ...(d.lab.kept
      ? [
          '',
          `the lab host is still running (pid ${d.lab.pid}); log in with:`,
          `  ${ssh}`,
          'its journal, and another plan with the profile the demo used:',
          `  ${me} status --profile ${rel(d.lab.profile)} ${hostArgs}`,
          `  ${me} plan --profile ${rel(d.lab.profile)} ${hostArgs}`,
          `stop it with: kill ${d.lab.pid}`,
        ]
      : ['', 'the lab host was torn down (--keep leaves it running to log in)']),
    '',
  ].join('\n');
}

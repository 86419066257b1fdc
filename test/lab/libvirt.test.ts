// libvirt's own domains across a real kexec: the lab image booted with systemd runs Debian 12's
// libvirtd (9.0) and libvirt-guests as the packages enable them; a domain defined here from XML runs
// the counter guest under QEMU 7.2 (TCG), with autostart on. `liveupdate run --host --agent` saves it
// through libvirt into an image on the pmem carve-out (the copy path), kexecs, and the agent's
// systemd unit restores it at boot, while libvirtd starts beside it. Nothing here is a double.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from '../helpers/paths.js';
import { useLab, type LabFixture, labHostFlags } from '../helpers/lab.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { bootIdOf, mustRun, outcomeOf, waitNewBoot } from '../helpers/remote.js';
import { parseJournal } from '../../src/exec/journal.js';
import { tempDir } from '../helpers/temp.js';
import { counterDomainXml } from '../helpers/libvirt-host.js';

const profile = join(ROOT, 'profiles/lab-libvirt.yaml');
const DOMAIN = 'counter';
const CONTROL = 'control';

/** virsh on the lab host, which must exit 0 (libvirtd under TCG answers slowly: bounded generously) */
const virsh = (fx: LabFixture, ...args: string[]): Promise<string> => mustRun(fx.ssh, ['virsh', '-c', 'qemu:///system', ...args], 180_000);

/** libvirtd answers: at a resumed snapshot it may still be starting (the socket starts it) */
async function libvirtdUp(fx: LabFixture): Promise<void> {
  for (let i = 0; ; i++) {
    const r = await fx.ssh.exec(['virsh', '-c', 'qemu:///system', '-q', 'version'], { timeoutMs: 120_000 });
    if (r.exitCode === 0) return;
    if (i === 60) assert.fail(`libvirtd on the lab host does not answer: ${r.stderr}`);
    await sleep(2000);
  }
}

/** the counter guest's count, from its RAM through libvirt's monitor (the test's reading taints the domain; liveupdate never does) */
async function counter(fx: LabFixture): Promise<bigint> {
  const out = await virsh(fx, 'qemu-monitor-command', '--hmp', DOMAIN, 'xp /1gx 0x7e00');
  return BigInt(out.split(/\s+/).at(-1)!);
}

const fx = useLab('libvirt', { init: 'systemd', timeoutMs: 600_000 }, async (fx) => {
  await libvirtdUp(fx);
  await fx.ssh.put(Buffer.from(counterDomainXml(DOMAIN, '/lab/counter.img')), '/root/counter.xml');
  await virsh(fx, 'define', '/root/counter.xml');
  await virsh(fx, 'start', DOMAIN);
  // a control: another domain with autostart, on a disk of its own, which the profile does not name
  await mustRun(fx.ssh, ['cp', '/lab/counter.img', '/lab/control.img']);
  await fx.ssh.put(Buffer.from(counterDomainXml(CONTROL, '/lab/control.img')), '/root/control.xml');
  await virsh(fx, 'define', '/root/control.xml');
  // both of libvirt's ways to start a domain at boot are on: each domain's autostart, and
  // libvirt-guests (enabled by Debian's package, its ON_BOOT the default: start)
  await virsh(fx, 'autostart', DOMAIN);
  await virsh(fx, 'autostart', CONTROL);
  assert.equal((await mustRun(fx.ssh, ['systemctl', 'is-enabled', 'libvirt-guests.service'])).trim(), 'enabled');
  await mustRun(fx.ssh, ['systemctl', 'start', 'libvirt-guests.service'], 180_000);
});

const hostArgs = (): string[] => labHostFlags(fx);
const cli = (args: string[]): Promise<CliResult> => runCli([...args, ...hostArgs()]);

test(
  'profile import --libvirt on the lab host: a profile naming its running domain, on the carve-out the host has, that validates and plans',
  { timeout: 600_000 },
  async () => {
    const out = join(tempDir('/var/tmp/lu-import-'), 'imported.yaml');
    const r = await cli(['profile', 'import', '--libvirt', '--out', out]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const v = await runCli(['validate', out]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    assert.match(v.stdout, /1 libvirt domain/);
    const p = await cli(['plan', '--phase', 'all', '--profile', out]);
    assert.equal(p.code, 0, p.stderr + p.stdout);
    assert.match(p.stdout, new RegExp(`virsh -c qemu:///system save --running -- ${DOMAIN} /mnt/pmem/state/${DOMAIN}\\.libvirt-save`));
    assert.doesNotMatch(p.stdout, /memmap=.*reboot/i, 'the carve-out the host booted with is used: no new boot first');
  },
);

test(
  "a libvirt domain across a real kexec through the agent: saved into the carve-out, restored at boot by the agent's unit before autostart or libvirt-guests could cold-start it; it counts on, libvirt shows it running",
  { timeout: 1_800_000 },
  async () => {
    // while the control runs, the kexec would end it: refused, nothing changed
    await virsh(fx, 'start', CONTROL);
    const refused = await cli(['plan', '--phase', 'all', '--profile', profile]);
    assert.equal(refused.code, 1, refused.stderr + refused.stdout);
    assert.match(
      refused.stderr,
      new RegExp(`libvirt\\.domains: libvirt on lab also runs ${CONTROL}, which the profile does not name: the kexec would end it unsaved`),
    );
    await virsh(fx, 'destroy', CONTROL);

    const install = await cli(['host', 'install']);
    assert.equal(install.code, 0, install.stderr + install.stdout);
    const journal = ['--journal-dir', tempDir('/var/tmp/lu-cn-')];
    const prep = await cli(['prepare', '--profile', profile, '--agent', ...journal]);
    assert.equal(prep.code, 0, prep.stderr + prep.stdout);
    await sleep(3000);
    const before = await counter(fx);
    const bootBefore = await bootIdOf(fx.ssh);

    // the control node follows the run to its end, across the kexec
    const run = await cli(['run', '--profile', profile, '--agent', '--yes', '--force', ...journal]);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const bootAfter = await waitNewBoot(fx.ssh, bootBefore, 60_000);

    // libvirt: both running, autostart back on; the control was cold-started by libvirtd's autostart
    // in this boot, the saved domain left to the agent
    assert.deepEqual((await virsh(fx, 'list', '--name')).split('\n').filter(Boolean).sort(), [CONTROL, DOMAIN]);
    const info = await virsh(fx, 'dominfo', DOMAIN);
    assert.match(info, /State:\s+running/);
    assert.match(info, /Autostart:\s+enable/);
    await sleep(2000);
    const after = await counter(fx);
    assert.ok(after > before, `restored from its image, not cold-started (that counts from 0): ${before} before, ${after} after`);

    // the journal on the host: the boot checked, the image's size before the kexec, checked after it, restored by the agent
    const recs = parseJournal(await mustRun(fx.ssh, ['cat', '/var/lib/liveupdate/lab.journal']), 'lab.journal');
    assert.equal(outcomeOf(recs, 'kexec/verify-boot')?.['bootId'], bootAfter);
    const saved = outcomeOf(recs, `suspend/fingerprint-save/${DOMAIN}`) as { results?: Array<{ bytes?: number }> } | undefined;
    const bytes = saved?.results?.[0]?.bytes ?? 0;
    assert.ok(bytes > 0 && bytes < 80 << 20, `the save image's size is in the journal: ${JSON.stringify(saved)}`);
    for (const id of [
      `resume/libvirt-ready`,
      `resume/verify-save/${DOMAIN}`,
      `resume/virsh-restore/${DOMAIN}`,
      `resume/autostart-on/${DOMAIN}`,
    ])
      assert.ok(
        recs.some((r) => r.type === 'step-end' && r.id === id && r.result === 'ok'),
        `${id} done`,
      );
    const last = recs.at(-1);
    assert.equal(last?.type === 'done' ? last.how : last?.type, 'resumed');

    // at boot: the agent's unit restored it; libvirt-guests ran and started nothing (its list is
    // written only by its own stop, which a kexec does not run)
    const unit = await mustRun(fx.ssh, ['journalctl', '-b', '-u', 'liveupdate-resume.service', '-o', 'cat', '--no-pager']);
    assert.match(unit, /resuming its VMs on boot/);
    assert.match(unit, new RegExp(`virsh-restore/${DOMAIN}`));
    assert.equal((await mustRun(fx.ssh, ['systemctl', 'is-active', 'libvirt-guests.service'])).trim(), 'active');
    const status = await cli(['status', '--profile', profile, '--json', ...journal]);
    assert.equal(status.code, 0, status.stderr);
    const doc = JSON.parse(status.stdout) as { blackouts: Array<{ vm: string; ms: number }> };
    assert.equal(doc.blackouts[0]?.vm, DOMAIN, status.stdout);
    const ms = (id: string): number => {
      const e = recs.find((r) => r.type === 'step-end' && r.id === id);
      return e?.type === 'step-end' ? e.ms : NaN;
    };
    process.stdout.write(
      `# ${DOMAIN}: blackout ${doc.blackouts[0].ms} ms (virsh save ${ms(`suspend/virsh-save/${DOMAIN}`)} ms, libvirtd awaited ${ms('resume/libvirt-ready')} ms, ` +
        `virsh restore ${ms(`resume/virsh-restore/${DOMAIN}`)} ms), save image ${bytes} bytes\n`,
    );
  },
);

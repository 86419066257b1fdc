// libvirt's own domains, updated through libvirt: a real libvirtd, a real domain running the counter
// guest under Debian 12's QEMU, real virsh save and restore (test/helpers/libvirt-host.ts). The only
// double is the facts edit of test/helpers/local-qemu.ts (a loop-mounted ext4 reported as an active
// pmem carve-out); no kexec here (test/lab/libvirt.test.ts has it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gatherFacts } from '../../src/facts/gather.js';
import { LocalHost } from '../../src/host/local.js';
import { requireProfile } from '../../src/profile/load.js';
import { withActivePmem } from '../helpers/local-qemu.js';
import {
  domainHost,
  ensureLibvirtd,
  restartLibvirtdAsAtBoot,
  stopLibvirtdIfStarted,
  URI,
  virsh,
  withDomainHost,
  type DomainHost,
} from '../helpers/libvirt-host.js';

const T = { timeout: 600_000 };

before(ensureLibvirtd);
after(stopLibvirtdIfStarted);

/** The domain with autostart on, counting, then saved by `liveupdate suspend`: its count before the save. */
async function savedWithAutostart(h: DomainHost): Promise<bigint> {
  assert.equal(virsh('autostart', h.name).status, 0);
  await h.refreshFacts();
  await sleep(1000);
  const before = h.counter();
  const s = h.cli(['suspend', '--vmm-only', '--yes', '--profile', h.profile, '--facts', h.facts]);
  assert.equal(s.status, 0, s.stdout + s.stderr);
  assert.equal(virsh('domstate', h.name).stdout.trim(), 'shut off');
  return before;
}

test(
  "a running libvirt domain is updated through libvirt (copy path): saved into an image on the carve-out, restored from it; it counts on, libvirt shows it running, the journal has the image's size",
  T,
  async () => {
    await withDomainHost({}, async (h) => {
      await sleep(1500);
      const plan = h.cli(['plan', '--phase', 'all', '--vmm-only', '--profile', h.profile, '--facts', h.facts, '--json']);
      assert.equal(plan.status, 0, plan.stdout + plan.stderr);
      const doc = JSON.parse(plan.stdout) as {
        domains: Array<{ name: string; ram: string; memory: number }>;
        steps: Array<{ id: string; argv?: string[] }>;
      };
      assert.deepEqual(
        doc.domains.map((d) => [d.name, d.ram, d.memory]),
        [[h.name, 'copy', 64 << 20]],
      );
      const save = doc.steps.find((s) => s.id === `suspend/virsh-save/${h.name}`);
      assert.deepEqual(save?.argv, ['virsh', '-c', URI, 'save', '--running', '--', h.name, `${h.mount}/state/${h.name}.libvirt-save`]);
      const before = h.counter();
      const r = h.cli(['run', '--phase', 'update', '--vmm-only', '--yes', '--profile', h.profile, '--facts', h.facts]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`blackout ${h.name}: [0-9]+ ms`));
      assert.equal(virsh('domstate', h.name).stdout.trim(), 'running');
      await sleep(1000);
      const after = h.counter();
      assert.ok(after > before, `the guest counted on from where it was saved: ${before} before, ${after} after`);
      const recs = h.journal();
      const verified = recs.find((x) => x.type === 'step-end' && x.id === `suspend/fingerprint-save/${h.name}`) as
        { outcome?: { results?: Array<{ bytes?: number }> } } | undefined;
      assert.ok((verified?.outcome?.results?.[0]?.bytes ?? 0) > 0, `the save image's size is in the journal: ${JSON.stringify(verified)}`);
      assert.ok(!existsSync(`${h.mount}/state/${h.name}.libvirt-save`), 'the image went once the domain ran again');
      // libvirt did all of it: no step goes around it to QEMU's monitor
      assert.ok(!doc.steps.some((s) => s.argv?.includes('qemu-monitor-command')));
    });
  },
);

test(
  'a domain liveupdate cannot keep in place is refused at plan time with what to add to its XML and qemu.conf; nothing on the host changes',
  T,
  async () => {
    await withDomainHost({ ram: 'in-place' }, (h) => {
      const id = virsh('domid', h.name).stdout.trim();
      const r = h.cli(['run', '--phase', 'update', '--vmm-only', '--yes', '--profile', h.profile, '--facts', h.facts]);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /<memoryBacking><source type='file'\/><access mode='shared'\/><\/memoryBacking>/);
      assert.match(r.stderr, /memory_backing_dir = "[^"]+\/libvirt-ram" in \/etc\/libvirt\/qemu.conf/);
      assert.match(r.stderr, /cannot be given x-ignore-shared on its command line/);
      assert.match(r.stderr, /libvirt\.ram: copy/);
      assert.match(r.stderr, /profile\.yaml:[0-9]+:[0-9]+/, 'the profile line of the domain');
      assert.equal(virsh('domstate', h.name).stdout.trim(), 'running');
      assert.equal(virsh('domid', h.name).stdout.trim(), id, 'the same QEMU runs it: nothing was stopped');
      assert.ok(!existsSync(join(h.dir, 'journal')) || readdirSync(join(h.dir, 'journal')).length === 0, 'no run was journalled');
    });
  },
);

test(
  'refused at their fields: a carve-out too small for the save images and a domain libvirt does not have; then the same domain shut off',
  T,
  async () => {
    await withDomainHost({ memory: '64' }, async (h) => {
      const text = readFileSync(h.profile, 'utf8')
        .replace('size: 1G', 'size: 32M')
        .replace(`domains: [${h.name}]`, `domains: [${h.name}, no-such-domain]`);
      writeFileSync(h.profile, text);
      await h.refreshFacts();
      const plan = (): { status: number | null; stderr: string; stdout: string } =>
        h.cli(['plan', '--phase', 'all', '--vmm-only', '--profile', h.profile, '--facts', h.facts]);
      let r = plan();
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /persistence\.size.*cannot hold the domains' save images \(64M of RAM\): make it at least 128M/);
      assert.match(r.stderr, /libvirt\.domains\[1\].*has no domain 'no-such-domain'/);
      virsh('destroy', h.name);
      await h.refreshFacts();
      r = plan();
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`${h.name} is shut off: only a running domain is updated`));
    });
  },
);

test(
  "libvirt's autostart does not cold-start a saved domain when its daemon starts (as at boot): liveupdate turns it off before the save and back on after the restore; another autostart domain, the control, is started",
  T,
  async () => {
    const h = await domainHost();
    const control = `${h.name}-control`;
    try {
      // a domain of its own: its own disk (QEMU locks a disk image for its writer)
      execFileSync('cp', [join(h.dir, 'counter.img'), join(h.dir, 'control.img')]);
      writeFileSync(
        join(h.dir, 'control.xml'),
        readFileSync(join(h.dir, 'domain.xml'), 'utf8')
          .replace(`<name>${h.name}</name>`, `<name>${control}</name>`)
          .replace('counter.img', 'control.img'),
      );
      assert.equal(virsh('define', join(h.dir, 'control.xml')).status, 0);
      assert.equal(virsh('autostart', control).status, 0);
      const before = await savedWithAutostart(h);
      assert.match(virsh('dominfo', h.name).stdout, /Autostart:\s+disable/);
      await restartLibvirtdAsAtBoot();
      assert.equal(virsh('domstate', control).stdout.trim(), 'running', 'the daemon autostarted the control domain');
      assert.equal(virsh('domstate', h.name).stdout.trim(), 'shut off', 'and left the saved one to liveupdate');
      await h.refreshFacts();
      const r = h.cli(['resume', '--vmm-only', '--yes', '--profile', h.profile, '--facts', h.facts]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.equal(virsh('domstate', h.name).stdout.trim(), 'running');
      assert.match(virsh('dominfo', h.name).stdout, /Autostart:\s+enable/, r.stdout + r.stderr);
      await sleep(1000);
      const after = h.counter();
      assert.ok(after > before, `restored from its image, not cold-started: ${before} before, ${after} after`);
    } finally {
      virsh('destroy', control);
      virsh('undefine', control);
      h.cleanup();
    }
  },
);

test(
  'profile import --libvirt writes, from the running domains, a profile that validates and plans (copy path), each domain with its readiness',
  T,
  async () => {
    await withDomainHost({}, async (h) => {
      const out = join(h.dir, 'imported.yaml');
      const r = h.cli(['profile', 'import', '--libvirt', URI, '--out', out]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const text = readFileSync(out, 'utf8');
      assert.match(text, new RegExp(`^    - ${h.name}$`, 'm'));
      assert.match(text, new RegExp(`# ${h.name}: 64M, QEMU 7\\.2\\.[0-9]+`));
      assert.match(text, /in place would need <memoryBacking><source type='file'\/><access mode='shared'\/><\/memoryBacking> in its XML/);
      const v = h.cli(['validate', out]);
      assert.equal(v.status, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /1 libvirt domain/);
      // planned from this machine's facts, the carve-out reported active (the same edit as the other tests), and the
      // running kernel's image reported in /boot (this machine boots one from elsewhere; a Debian host has it there)
      const real = await gatherFacts(new LocalHost(), requireProfile(out).profile);
      const facts = join(h.dir, 'imported-facts.json');
      writeFileSync(
        facts,
        JSON.stringify({
          ...withActivePmem(real, real.hostname),
          pathHolds: { ...real.pathHolds, '/mnt/pmem': 'missing' },
          files: { ...real.files, [`/boot/vmlinuz-${real.kernelRelease}`]: 1 },
        }),
      );
      const p = h.cli(['plan', '--phase', 'all', '--profile', out, '--facts', facts]);
      assert.equal(p.status, 0, p.stdout + p.stderr);
      assert.match(p.stdout, new RegExp(`virsh -c ${URI} save --running -- ${h.name} /mnt/pmem/state/${h.name}\\.libvirt-save`));
    });
  },
);

test(
  'a save image that did not come back whole stops the resume before libvirt reads it (RAM_CHANGED), nothing restored; put back, resume restores the domain',
  T,
  async () => {
    await withDomainHost({}, async (h) => {
      await sleep(1000);
      const s = h.cli(['suspend', '--vmm-only', '--yes', '--profile', h.profile, '--facts', h.facts]);
      assert.equal(s.status, 0, s.stdout + s.stderr);
      const image = `${h.mount}/state/${h.name}.libvirt-save`;
      const kept = readFileSync(image);
      // what a carve-out the new kernel did not keep reads as: zeros where the image was
      writeFileSync(image, Buffer.alloc(kept.length));
      await h.refreshFacts();
      const r = h.cli(['resume', '--vmm-only', '--yes', '--profile', h.profile, '--facts', h.facts]);
      assert.equal(r.status, 3, `stopped part-way, its state kept: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, new RegExp(`${h.name}\\.libvirt-save is not what was there before the kexec`));
      assert.equal(virsh('domstate', h.name).stdout.trim(), 'shut off', 'libvirt was not asked to restore it');
      writeFileSync(image, kept);
      const again = h.cli(['resume', '--vmm-only', '--yes', '--profile', h.profile, '--facts', h.facts]);
      assert.equal(again.status, 0, again.stdout + again.stderr);
      assert.equal(virsh('domstate', h.name).stdout.trim(), 'running');
    });
  },
);

test(
  'abort after the save, before any kexec: libvirt restores the domain from its image on this kernel, autostart back on, the image gone',
  T,
  async () => {
    await withDomainHost({}, async (h) => {
      const before = await savedWithAutostart(h);
      await h.refreshFacts();
      const a = h.cli(['abort', '--vmm-only', '--profile', h.profile, '--facts', h.facts]);
      assert.equal(a.status, 0, a.stdout + a.stderr);
      assert.equal(virsh('domstate', h.name).stdout.trim(), 'running');
      assert.match(virsh('dominfo', h.name).stdout, /Autostart:\s+enable/);
      assert.ok(!existsSync(`${h.mount}/state/${h.name}.libvirt-save`), 'the image went');
      await sleep(1000);
      assert.ok(h.counter() > before, 'restored from its image: the count went on');
    });
  },
);

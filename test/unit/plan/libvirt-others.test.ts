// Pure logic: a kexec ends every QEMU, so a plan that kexecs is refused while libvirt runs a domain
// the profile does not name (the lab's captured facts with a libvirt section; no host).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFactsFile } from '../../../src/facts/file.js';
import type { HostFacts } from '../../../src/facts/types.js';
import { parseProfile } from '../../../src/profile/load.js';
import { makePlan } from '../../../src/plan/planner.js';
import { LiveupdateError, formatDiagnostic } from '../../../src/errors.js';
import { ROOT } from '../../helpers/paths.js';
import { oneDomain } from '../../helpers/libvirt-facts.js';

const FILE = join(ROOT, 'profiles/lab-libvirt.yaml');
const { value: profile, locate } = parseProfile(FILE, readFileSync(FILE, 'utf8'));

async function facts(running: string[]): Promise<HostFacts> {
  const f = await readFactsFile(join(ROOT, 'profiles', 'facts', 'lab.json'));
  return {
    ...f,
    files: { ...f.files, '/boot/vmlinuz': 8 << 20, '/boot/initrd.img': 2 << 20 },
    libvirt: oneDomain({ name: 'counter', memoryMiB: 64, running }),
  };
}

const plan = async (running: string[], opts: { phases?: 'all' | 'prepare'; update?: 'kernel' | 'vmm' } = {}): Promise<string> => {
  try {
    makePlan({ profile: profile!, facts: await facts(running), phases: opts.phases ?? 'all', update: opts.update, locate: locate });
    return 'planned';
  } catch (e) {
    assert.ok(e instanceof LiveupdateError && e.code === 'PLAN_INVALID', String(e));
    return [e.message, ...(e.diagnostics ?? []).map(formatDiagnostic)].join('\n');
  }
};

test('a kernel update is refused at libvirt.domains while libvirt runs a domain the profile does not name', async () => {
  assert.equal(await plan(['counter']), 'planned');
  const r = await plan(['counter', 'db1']);
  assert.match(r, /its kexec would end domains the profile does not name; nothing was done/);
  assert.match(
    r,
    /lab-libvirt\.yaml:\d+:\d+: libvirt\.domains: libvirt on lab also runs db1, which the profile does not name: the kexec would end it unsaved/,
  );
  assert.match(r, /virsh -c qemu:\/\/\/system shutdown db1/);
  assert.match(await plan(['counter', 'db1', 'web2']), /also runs db1, web2, .* end them unsaved/);
});

test('no kexec, no refusal: a VMM-only update, or a plan of the prepare phase alone', async () => {
  assert.equal(await plan(['counter', 'db1'], { update: 'vmm' }), 'planned');
  assert.equal(await plan(['counter', 'db1'], { phases: 'prepare' }), 'planned');
});

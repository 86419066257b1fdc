// The carve-out's boot parameters per boot loader, pure: the shipped pmem profile and its facts
// (whose boot lacks the carve-out), with the probed bootloader fact set to each value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LiveupdateError } from '../../../src/errors.js';
import { readFactsFile } from '../../../src/facts/file.js';
import type { Bootloader } from '../../../src/facts/types.js';
import { makePlan } from '../../../src/plan/planner.js';
import { requireProfile } from '../../../src/profile/load.js';
import { ROOT } from '../../helpers/paths.js';

async function planWith(bootloader: Bootloader | undefined) {
  const { profile, locate } = requireProfile(join(ROOT, 'profiles/pmem-stock.yaml'));
  const facts = await readFactsFile(join(ROOT, 'profiles/facts/pmem-host.json'));
  return makePlan({ profile, facts: { ...facts, ...(bootloader ? { bootloader } : {}) }, phases: 'prepare', locate });
}

const cmdlineStep = (p: Awaited<ReturnType<typeof planWith>>) => {
  const s = p.steps.find((x) => x.id === 'prepare/carve-out-cmdline');
  assert.ok(s && s.kind === 'cmdline');
  return s;
};

test("Debian's GRUB (and facts saved before the bootloader was probed): a drop-in, then update-grub", async () => {
  for (const b of ['grub', undefined] as const) {
    const s = cmdlineStep(await planWith(b));
    assert.equal(s.bootloaderFile, '/etc/default/grub.d/liveupdate.cfg');
    assert.match(s.bootloaderText!, /^GRUB_CMDLINE_LINUX_DEFAULT="\$GRUB_CMDLINE_LINUX_DEFAULT memmap=.*"$/m);
    assert.deepEqual(s.argv, ['update-grub']);
  }
});

test('grubby (RHEL, Fedora): every boot entry gets the parameters, no file is written', async () => {
  const s = cmdlineStep(await planWith('grubby'));
  assert.equal(s.bootloaderFile, undefined);
  assert.equal(s.argv[0], 'grubby');
  assert.equal(s.argv[1], '--update-kernel=ALL');
  assert.deepEqual(s.argv[2]!.replace(/^--args=/, '').split(' '), s.params);
});

test('systemd-boot and an unknown loader: refused before anything, with the exact line to add by hand', async () => {
  const refusal = async (b: Bootloader): Promise<string> => {
    try {
      await planWith(b);
    } catch (e) {
      assert.ok(e instanceof LiveupdateError && e.code === 'PLAN_INVALID');
      return e.diagnostics.map((d) => d.message).join('\n');
    }
    assert.fail(`${b}: planned`);
  };
  const facts = await readFactsFile(join(ROOT, 'profiles/facts/pmem-host.json'));
  const sd = await refusal('systemd-boot');
  const expected = `${facts.cmdline
    .split(/\s+/)
    .filter((w) => w && !/^(BOOT_IMAGE|initrd)=/.test(w))
    .join(' ')} memmap=`;
  assert.ok(sd.includes(`write this one line to /etc/kernel/cmdline: ${expected}`), sd);
  assert.match(sd, /then run 'kernel-install add \$\(uname -r\) \/boot\/vmlinuz-\$\(uname -r\)' and reboot/);
  assert.match(
    await refusal('unknown'),
    /has none of GRUB's update-grub, grubby or systemd-boot's kernel-install: add 'memmap=\S+.*' to the options of its boot entry by hand/,
  );
});

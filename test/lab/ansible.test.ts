// The Ansible collection in the lab: Debian's ansible-core runs liveupdate.hypervisor.live_update
// against the lab host over OpenSSH, and the host gets a real kexec of Debian's kernel under TCG. The
// module hands the update to the on-host agent (liveupdate copies it there), follows it across the
// kexec, then resets Ansible's own SSH connection and proves the new boot by its boot_id. Then the
// same play again, and `liveupdate run`: the host runs the kernel the profile loads, with the command
// line it would load, and its VM runs, so both have nothing to do (ok, exit 0, no VM touched). The lab
// kexecs into the very kernel it booted, so the first play is forced (force: true): without it the
// host is up to date before it starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseTarget } from '../../src/host/ssh.js';
import { ROOT } from '../helpers/paths.js';
import { installCollection, runPlaybook } from '../helpers/ansible.js';
import { useLab, labHostFlags } from '../helpers/lab.js';
import { runCli } from '../helpers/run-cli.js';
import { counterOn } from '../../src/lab/counter.js';
import { bootIdOf, mustRun } from '../helpers/remote.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('/var/tmp/lu-lab-ansible-');
const profile = join(ROOT, 'profiles/lab.yaml');

const fx = useLab('ansible');

test(
  "a kernel live update through the Ansible module: real kexec, the VM continues, the new boot proved over Ansible's own connection",
  { timeout: 1_500_000 },
  async () => {
    const collections = installCollection(dir);

    const prep = await runCli(['prepare', '--profile', profile, ...labHostFlags(fx), '--agent']);
    assert.equal(prep.code, 0, prep.stderr + prep.stdout);
    await sleep(10_000);
    const before = await counterOn(fx.ssh);
    assert.equal(before.status, 'running');
    const bootBefore = await bootIdOf(fx.ssh);

    const { host, port, user } = parseTarget(fx.lab.target);
    const inventory = join(dir, 'inventory.ini');
    writeFileSync(
      inventory,
      `lab ansible_host=${host} ansible_port=${port} ansible_user=${user} ansible_ssh_private_key_file=${fx.lab.identity} ansible_ssh_common_args='-o UserKnownHostsFile=${fx.lab.knownHosts} -o StrictHostKeyChecking=yes'\n`,
    );
    const play = join(dir, 'update.yml');
    writeFileSync(
      play,
      [
        '- hosts: lab',
        '  gather_facts: false',
        '  tasks:',
        '    - name: Live update',
        '      liveupdate.hypervisor.live_update:',
        `        profile: ${profile}`,
        `        known_hosts: ${fx.lab.knownHosts}`,
        `        liveupdate_cli: ${join(ROOT, 'bin/liveupdate.js')}`,
        '        force: "{{ liveupdate_force | default(false) | bool }}"',
        '      register: lu',
        '',
      ].join('\n'),
    );
    const r = runPlaybook({ collections, inventory, dir, timeoutMs: 1_200_000 }, [play, '-e', 'liveupdate_force=true']);
    assert.equal(r.code, 0, r.out);
    const lu = r.records.find((x) => x.task === 'Live update');
    assert.ok(lu, `the task reported its result: ${r.out}`);
    assert.equal(lu.status, 'ok', JSON.stringify(lu.result));
    const res = lu.result as {
      changed: boolean;
      boot_id_before: string;
      boot_id_after: string;
      blackouts: Array<{ vm: string; ms: number }>;
      run_id: string;
      journal: string;
      msg: string;
    };
    assert.equal(res.changed, true);
    assert.equal(res.boot_id_before, bootBefore, 'the boot before, as Ansible read it');
    assert.notEqual(res.boot_id_after, bootBefore, 'a new boot');
    fx.ssh.reset();
    assert.equal(await bootIdOf(fx.ssh), res.boot_id_after, "the boot Ansible proved is the host's boot now");
    assert.deepEqual(
      res.blackouts.map((b) => b.vm),
      ['counter'],
    );
    assert.match(res.journal, /:\/var\/lib\/liveupdate\/lab\.journal$/);
    assert.match(res.msg, /^run: live update done; blackout counter \d+ ms$/);
    const after = await counterOn(fx.ssh);
    assert.equal(after.status, 'running');
    assert.ok(after.value > before.value, `continued: ${before.value} before, ${after.value} after`);
    // each step shown as it finished, while the update ran
    assert.match(r.out, /liveupdate \S+: kexec\/kexec-exec ok \(\d+ ms\)/);

    // converged: the same play again changes nothing, in check mode too, and so does liveupdate run
    const pid = await mustRun(fx.ssh, ['cat', '/run/liveupdate/vms/counter/qemu.pid']);
    const journalSize = await mustRun(fx.ssh, ['stat', '-c', '%s', '/var/lib/liveupdate/lab.journal']);
    for (const extra of [[], ['--check']]) {
      const again = runPlaybook({ collections, inventory, dir, timeoutMs: 600_000 }, [play, ...extra]);
      assert.equal(again.code, 0, again.out);
      const u = again.records.find((x) => x.task === 'Live update');
      assert.equal(u?.status, 'ok', `${extra.join(' ')}: ${JSON.stringify(u?.result)}`);
      assert.equal(u.result.changed, false, JSON.stringify(u.result));
      assert.match(
        String(u.result['up_to_date']),
        /^lab runs \S+ \(\/boot\/vmlinuz, built '#.*'\) with the command line the update would load, and its VM runs$/,
      );
      assert.match(again.out, /changed=0/);
    }
    const target = labHostFlags(fx);
    const plan = await runCli(['plan', '--profile', profile, '--detailed-exitcode', ...target]);
    assert.equal(plan.code, 0, plan.stderr + plan.stdout);
    assert.match(plan.stdout, /Nothing to do: lab runs /);
    const run = await runCli(['run', '--profile', profile, '--yes', ...target]);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout, /^run: nothing to do: lab runs .*; no VM was touched/m);
    assert.equal(await mustRun(fx.ssh, ['cat', '/run/liveupdate/vms/counter/qemu.pid']), pid, 'the same QEMU runs the VM');
    assert.equal(await mustRun(fx.ssh, ['stat', '-c', '%s', '/var/lib/liveupdate/lab.journal']), journalSize, 'no run journaled');
    assert.equal(await bootIdOf(fx.ssh), res.boot_id_after, 'no kexec');
    assert.equal((await counterOn(fx.ssh)).status, 'running');
    console.log(`ansible module kexec: blackout ${res.blackouts[0]!.ms.toFixed(0)} ms, boot ${res.boot_id_before} -> ${res.boot_id_after}`);
  },
);

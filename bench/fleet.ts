/**
 * bench:fleet — the same job three ways in the same run, over 50 loopback hosts (50 real OpenSSH
 * sshd instances, all this machine), 50 hosts at once each:
 * - `liveupdate fleet plan`: one process; over its own SSH to every host it gathers the facts
 *   liveupdate needs and makes each host's dry-run plan.
 * - the Ansible collection (ansible/, Debian's ansible-core): `ansible-playbook --check` of one
 *   liveupdate.hypervisor.live_update task per host; the action runs `liveupdate run --dry-run` on
 *   the control node for its host (a Node process per host, with its own SSH connection), which
 *   gathers the facts and makes the plan.
 * - plain Ansible, the baseline: a playbook that runs the same probe script on every host and keeps
 *   its output on the control node. No plan (Ansible cannot make one) and no Node process: what
 *   Ansible itself costs for the part of the job it can do.
 * Then the peak memory (RSS) of a 1000-host fleet run against the fleet simulator (a test double:
 * one ssh2 server playing every host). Ends with one JSON line, ratios first.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PROBE_SCRIPT } from '../src/facts/probe.js';
import type { FleetHost, Inventory } from '../src/fleet/inventory.js';
import { runFleet } from '../src/fleet/run.js';
import { startSshd, type Sshd } from '../test/helpers/sshd.js';
import { startFleetSim, simUpdater } from '../test/helpers/fleet-sim.js';
import { ROOT } from '../test/helpers/paths.js';
import { installCollection } from '../test/helpers/ansible.js';
import { tempDir } from '../test/helpers/temp.js';

const N = Number(process.env['BENCH_FLEET_HOSTS'] ?? 50);
const dir = tempDir('/var/tmp/lu-bench-fleet-');

function timed(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ ms: number; code: number | null; out: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.on('close', (code) => resolve({ ms: performance.now() - t0, code, out }));
  });
}

const sshds: Sshd[] = [];
try {
  execFileSync('ansible-playbook', ['--version'], { stdio: 'ignore' });
} catch {
  // the baseline: Debian's ansible-core, installed when missing
  console.error('bench:fleet: installing ansible-core (apt-get)');
  execFileSync(
    'sh',
    [
      '-c',
      'apt-get install -y -q --no-install-recommends ansible-core >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends ansible-core >/dev/null; }',
    ],
    { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
  );
}
try {
  // This machine has no bootloader tool, so no plan could add the carve-out to its command line:
  // every host's sshd puts a stand-in `grubby` first on the PATH (the test double; nothing runs it,
  // the plan only names it, with the reboot first that a host without the carve-out needs)
  const stubs = join(dir, 'stub-bin');
  mkdirSync(stubs);
  writeFileSync(join(stubs, 'grubby'), '#!/bin/sh\n# bench:fleet stand-in: never run by a plan\nexit 0\n', { mode: 0o755 });
  const extraConfig = `SetEnv PATH=${stubs}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
  for (let i = 0; i < N; i++) sshds.push(await startSshd({ extraConfig }));
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, sshds.map((s) => s.knownHostsLine).join(''));
  const profile = join(dir, 'profile.yaml');
  writeFileSync(
    profile,
    `version: 1\nhost: {name: ${hostname()}}\npersistence: {backend: pmem, size: 1G, offset: auto, mount: /mnt/pmem}\nkexec: {kernel: /bin/true}\nvms:\n  - {name: vm1, memory: 64M, qemu: {machine: pc, accel: tcg, args: [-nodefaults, -display, none]}}\n`,
  );

  // liveupdate: one inventory, one command
  const inv = join(dir, 'inventory.yaml');
  writeFileSync(
    inv,
    `version: 1\ndefaults: {user: root, profile: ${profile}, knownHosts: ${knownHosts}, hostname: ${hostname()}}\nhosts:\n${sshds.map((s, i) => `  - {name: h${i}, address: 127.0.0.1, port: ${s.port}, identity: ${s.clientKey}}`).join('\n')}\nrollout: {connectRate: 100}\n`,
  );
  const ours = await timed(process.execPath, [
    join(ROOT, 'bin/liveupdate.js'),
    'fleet',
    'plan',
    '--inventory',
    inv,
    '--forks',
    '50',
    '--json',
  ]);
  if (ours.code !== 0) throw new Error(`fleet plan failed:\n${ours.out.slice(-3000)}`);
  const planned = (JSON.parse(ours.out) as { hosts: Array<{ ok: boolean }> }).hosts.filter((h) => h.ok).length;
  if (planned !== N) throw new Error(`fleet plan planned ${planned} of ${N} hosts`);

  // Ansible's inventory of the same hosts
  const ansibleEnv = { ...process.env, ANSIBLE_HOST_KEY_CHECKING: 'True', ANSIBLE_NOCOWS: '1', ANSIBLE_RETRY_FILES_ENABLED: 'False' };
  writeFileSync(
    join(dir, 'hosts.ini'),
    `[fleet]\n${sshds.map((s, i) => `h${i} ansible_host=127.0.0.1 ansible_port=${s.port} ansible_user=root ansible_ssh_private_key_file=${s.clientKey}`).join('\n')}\n[fleet:vars]\nansible_ssh_common_args='-o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes'\nansible_python_interpreter=/usr/bin/python3\n`,
  );

  // the collection, from the tarball the build made: check mode, the plan of every host
  const collections = installCollection(dir);
  writeFileSync(
    join(dir, 'collection.yml'),
    `- hosts: fleet
  gather_facts: false
  tasks:
    - name: the plan of this host
      liveupdate.hypervisor.live_update: {profile: ${profile}, known_hosts: ${knownHosts}, liveupdate_cli: ${join(ROOT, 'bin/liveupdate.js')}}
`,
  );
  const collection = await timed('ansible-playbook', ['-i', join(dir, 'hosts.ini'), '-f', '50', '--check', join(dir, 'collection.yml')], {
    ...ansibleEnv,
    ANSIBLE_COLLECTIONS_PATH: collections,
  });
  if (collection.code !== 0) throw new Error(`ansible-playbook (the collection) failed:\n${collection.out.slice(-3000)}`);

  // plain Ansible: the same probe on every host, its output kept on the control node
  writeFileSync(join(dir, 'probe.sh'), PROBE_SCRIPT);
  writeFileSync(
    join(dir, 'probe.yml'),
    `- hosts: fleet
  gather_facts: false
  tasks:
    - name: probe the facts liveupdate needs
      ansible.builtin.script: ${join(dir, 'probe.sh')} /bin/true
      environment: {QEMU_BINARIES: /usr/bin/qemu-system-x86_64}
      register: probe
    - name: keep them on the control node
      ansible.builtin.copy: {content: "{{ probe.stdout }}", dest: "${dir}/facts-{{ inventory_hostname }}.txt"}
      delegate_to: localhost
`,
  );
  const ansible = await timed('ansible-playbook', ['-i', join(dir, 'hosts.ini'), '-f', '50', join(dir, 'probe.yml')], ansibleEnv);
  if (ansible.code !== 0) throw new Error(`ansible-playbook (plain) failed:\n${ansible.out.slice(-3000)}`);

  // 1000 simulated hosts through the real fleet runner: peak RSS of this process
  const sim = await startFleetSim({ latencyMs: 20 });
  const hosts: FleetHost[] = Array.from({ length: 1000 }, (_, i) => ({
    name: `s${i}`,
    address: '127.0.0.1',
    port: sim.port,
    user: `s${i}`,
    profile: '/dev/null',
    hostname: `s${i}`,
    groups: [],
    labels: {},
    where: '',
  }));
  const simInv: Inventory = {
    file: 'sim',
    hosts,
    rollout: {
      serial: [1, 10, '10%'],
      concurrency: 100,
      maxFailPercentage: 5,
      maxPerLabel: {},
      connectRate: 1000,
      vmmOnly: false,
      phases: 'all',
    },
  };
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const t0 = performance.now();
  const simRun = await runFleet({ inventory: simInv, fleetDir: join(dir, 'sim-runs'), update: simUpdater(sim), emit: () => undefined });
  const simMs = performance.now() - t0;
  clearInterval(sampler);
  await sim.close();
  if (!simRun.ok) throw new Error(`simulated run failed: ${simRun.stopped ?? ''}`);

  const rate = (ms: number): number => N / (ms / 1000);
  const [oursRate, collectionRate, ansibleRate] = [rate(ours.ms), rate(collection.ms), rate(ansible.ms)];
  console.log(`liveupdate fleet plan (facts + plan):      ${N} hosts in ${(ours.ms / 1000).toFixed(2)} s (${oursRate.toFixed(1)} hosts/s)`);
  console.log(
    `the collection, --check (facts + plan):    ${N} hosts in ${(collection.ms / 1000).toFixed(2)} s (${collectionRate.toFixed(1)} hosts/s)`,
  );
  console.log(
    `plain ansible-playbook (the probe only):   ${N} hosts in ${(ansible.ms / 1000).toFixed(2)} s (${ansibleRate.toFixed(1)} hosts/s)`,
  );
  console.log(
    `1000 simulated hosts: ${(simMs / 1000).toFixed(1)} s, peak RSS ${(peak / 2 ** 20).toFixed(0)} MB (process at start ${(rss0 / 2 ** 20).toFixed(0)} MB)`,
  );
  console.log(
    JSON.stringify({
      bench: 'fleet',
      ratio_ours_over_ansible_hosts_per_s: +(oursRate / ansibleRate).toFixed(2),
      ratio_ours_over_collection_hosts_per_s: +(oursRate / collectionRate).toFixed(2),
      ratio_collection_over_ansible_hosts_per_s: +(collectionRate / ansibleRate).toFixed(2),
      hosts: N,
      ours_hosts_per_s: +oursRate.toFixed(1),
      collection_hosts_per_s: +collectionRate.toFixed(1),
      ansible_hosts_per_s: +ansibleRate.toFixed(1),
      ours_ms: Math.round(ours.ms),
      collection_ms: Math.round(collection.ms),
      ansible_ms: Math.round(ansible.ms),
      sim_hosts: 1000,
      sim_run_ms: Math.round(simMs),
      sim_peak_rss_mb: Math.round(peak / 2 ** 20),
    }),
  );
} finally {
  for (const s of sshds) await s.stop();
}

/**
 * Putting the on-host agent on a host and taking it off: a Node runtime and two bundled files (the
 * agent and the CLI), each by content, the static helper, and on systemd hosts the boot-time unit.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { LiveupdateError } from '../errors.js';
import { readRemoteJournal, replay } from '../exec/journal.js';
import type { Host } from '../host/host.js';
import { mustExec } from '../host/failure.js';
import { ensureHelper } from '../native/helper.js';
import { AGENT_BIN, AGENT_DIR, AGENT_RUNS, lockFile } from '../agent/request.js';

/** Built by `npm run build` (scripts/bundle.sh): the agent, and the whole CLI, each one file with no node_modules. */
const BUNDLES = fileURLToPath(new URL('../../agent/', import.meta.url));
/** The static native helper the agent and the host's CLI run (a link to the copy named by its hash). */
const AGENT_HELPER = `${AGENT_DIR}/lu-helper`;
/** The systemd unit `install` puts on systemd hosts: the boot-time resume. */
export const AGENT_UNIT = '/etc/systemd/system/liveupdate-resume.service';

/** What is copied to a host: the agent as CommonJS (a start without the ES module loader: it runs inside the blackout at boot), the CLI as an ES module. */
const BUNDLE_FILES = { 'liveupdate-agent': 'liveupdate-agent.cjs', liveupdate: 'liveupdate.mjs' } as const;

/** Copy `content` to `path` (gzip'd on the wire), atomically: written under a name of its own, then renamed into place. */
async function copyTo(host: Host, content: Buffer | string, path: string, mode = 0o755): Promise<void> {
  const argv = [
    'sh',
    '-c',
    'mkdir -p "$(dirname "$1")" && gzip -dc > "$2" && chmod "$3" "$2" && mv -f "$2" "$1"',
    'sh',
    path,
    `${path}.part.${randomUUID()}`,
    mode.toString(8),
  ];
  await mustExec(host, argv, `install ${path}`, { input: gzipSync(content, { level: 1 }), timeoutMs: 600_000 });
}

export function systemdUnit(): string {
  return `# liveupdate: the boot-time resume. Installed by liveupdate's agent install; removed by 'liveupdate host uninstall'.
[Unit]
Description=liveupdate: resume the VMs of a live update whose kexec brought this host up
DefaultDependencies=no
# local file systems and the devices (the persistent memory's block device) are all it needs
Wants=systemd-udev-settle.service
After=local-fs.target systemd-modules-load.service systemd-udev-settle.service
Before=sshd.service ssh.service network-online.target
ConditionPathExists=${AGENT_RUNS}/latest

[Service]
Type=oneshot
ExecStart=${AGENT_BIN} boot
# the QEMUs it starts outlive it: when it ends, only its own process is stopped
KillMode=process
TimeoutStartSec=15min
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=sysinit.target
`;
}

/**
 * Put the agent on the host: this machine's Node runtime (the host needs glibc and libstdc++, which
 * QEMU already brings), the agent's and the CLI's bundles, a wrapper for each (liveupdate-agent, liveupdate), the static helper, and on systemd hosts the
 * boot-time unit, enabled. Idempotent; only what changed is copied.
 */
export async function installAgent(host: Host): Promise<{ bin: string; helper: string; runtime: string; unit?: string }> {
  // `liveupdate` run from the host's own copy: everything is there already
  if (host.local && fileURLToPath(import.meta.url).startsWith(`${AGENT_DIR}/`))
    return { bin: AGENT_BIN, helper: AGENT_HELPER, runtime: process.execPath };
  const missing = Object.values(BUNDLE_FILES).find((file) => !existsSync(`${BUNDLES}${file}`));
  if (missing)
    throw new LiveupdateError('NOT_SUPPORTED', `the bundles for hosts are not built (${BUNDLES}${missing} is missing)`, {
      hint: 'run npm run build',
    });
  // every file named by its content's hash; the wrappers and the unit are small and compared whole
  const fullSha = (content: Buffer | string): string => createHash('sha256').update(content).digest('hex');
  const named = (content: Buffer, prefix: string, suffix = ''): { content: Buffer; path: string; sha256: string } => {
    const sha256 = fullSha(content);
    return { content, path: `${prefix}-${sha256.slice(0, 16)}${suffix}`, sha256 };
  };
  const bundle = (name: keyof typeof BUNDLE_FILES) =>
    named(readFileSync(`${BUNDLES}${BUNDLE_FILES[name]}`), `${AGENT_DIR}/${name}`, BUNDLE_FILES[name].slice(name.length));
  const byContent = [named(readFileSync(process.execPath), `${AGENT_DIR}/node`), bundle('liveupdate-agent'), bundle('liveupdate')];
  const [runtime, agentBundle, cliBundle] = byContent.map((f) => f.path) as [string, string, string];
  const wrapper = (bundle: string): string =>
    `#!/bin/sh\n# liveupdate on this host; remove with 'liveupdate host uninstall'\nLIVEUPDATE_HELPER=${AGENT_HELPER} LIVEUPDATE_AGENT_DIR=${AGENT_DIR} exec ${runtime} ${bundle} "$@"\n`;
  const small = [
    { path: AGENT_BIN, text: wrapper(agentBundle), mode: 0o755 },
    { path: `${AGENT_DIR}/liveupdate`, text: wrapper(cliBundle), mode: 0o755 },
  ];
  // one round trip says what is there already, each file by its whole sha256 (they run as root:
  // a file changed on the host since it was copied is copied again, never run): on a host set up
  // before, that is all it costs
  const probe = await host.exec(
    [
      'sh',
      '-c',
      [
        `sha256sum ${[...byContent.map((f) => f.path), ...small.map((f) => f.path), AGENT_UNIT].join(' ')} 2>/dev/null | sed 's/^/sum /'`,
        `echo "link $(readlink ${AGENT_HELPER})"`,
        `[ -d /run/systemd/system ] && echo systemd && [ "$(systemctl is-enabled liveupdate-resume.service 2>/dev/null)" = enabled ] && echo enabled`,
        'true',
      ].join('; '),
    ],
    { timeoutMs: 120_000 },
  );
  const said = new Set(probe.stdout.split('\n'));
  const same = (path: string, sha256: string): boolean => said.has(`sum ${sha256}  ${path}`);
  const fresh = byContent.filter((f) => !same(f.path, f.sha256));
  for (const f of fresh) await copyTo(host, f.content, f.path);
  // the wrappers and the unit: written unless they are there with exactly this text
  for (const f of small) if (!same(f.path, fullSha(f.text))) await copyTo(host, f.text, f.path, f.mode);
  if (fresh.length) {
    const v = await host.exec([`${AGENT_DIR}/liveupdate`, '--version'], { timeoutMs: 60_000 });
    if (v.exitCode !== 0) {
      throw new LiveupdateError(
        'NOT_SUPPORTED',
        `${host.name}: the agent does not start there (exit ${v.exitCode}): ${v.stderr.trim().split('\n').slice(-2).join(' / ')}`,
        {
          hint: 'the agent runs the Node runtime of this control node: the host needs x86_64 glibc 2.28+ and libstdc++ (QEMU brings both)',
        },
      );
    }
  }
  // the helper: verified by its whole sha256 (once per connection), uploaded if it is not this build's
  const helper = await ensureHelper(host);
  if (!said.has(`link ${helper}`)) await mustExec(host, ['ln', '-sfn', helper, AGENT_HELPER], 'link the helper');
  if (!said.has('systemd')) return { bin: AGENT_BIN, helper: AGENT_HELPER, runtime };
  if (!same(AGENT_UNIT, fullSha(systemdUnit())) || !said.has('enabled')) {
    await copyTo(host, systemdUnit(), AGENT_UNIT, 0o644);
    await mustExec(host, ['systemctl', 'daemon-reload'], 'reload systemd');
    await mustExec(host, ['systemctl', 'enable', 'liveupdate-resume.service'], 'enable the boot-time resume');
  }
  return { bin: AGENT_BIN, helper: AGENT_HELPER, runtime, unit: AGENT_UNIT };
}

/** Remove everything the agent put on the host; refused while a run is unfinished or the agent runs. */
export async function uninstallAgent(host: Host, journal: string): Promise<string[]> {
  const run = replay(await readRemoteJournal(host, journal));
  const unfinished = run !== undefined && !run.finished;
  const lock = await host.exec(['cat', lockFile(journal)]);
  if (unfinished || lock.exitCode === 0) {
    throw new LiveupdateError(
      'HOST_BUSY',
      `${host.name}: ${unfinished ? `the run in ${journal} is not finished` : `the lock ${lockFile(journal)} is there (${lock.stdout.trim()})`}: the agent stays; nothing was removed`,
      {
        hint: 'finish the run first (liveupdate status says how), or abort it',
      },
    );
  }
  const removed: string[] = [];
  if ((await host.exec(['test', '-e', AGENT_UNIT])).exitCode === 0) {
    await host.exec(['systemctl', 'disable', 'liveupdate-resume.service']);
    await mustExec(host, ['rm', '-f', AGENT_UNIT], 'remove the unit');
    await host.exec(['systemctl', 'daemon-reload']);
    removed.push(AGENT_UNIT);
  }
  if ((await host.exec(['test', '-e', AGENT_DIR])).exitCode === 0) {
    await mustExec(host, ['rm', '-rf', '--one-file-system', AGENT_DIR], `remove ${AGENT_DIR}`);
    removed.push(AGENT_DIR);
  }
  return removed;
}

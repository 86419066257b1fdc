/**
 * Putting the on-host agent on a host and taking it off: a Node runtime and two bundled files (the
 * agent and the CLI), each by content, the static helper, and on systemd hosts the boot-time unit.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { LiveupdateError } from '../errors.js';
import { readRemoteJournal, replay } from '../exec/journal.js';
import { shellQuote, type Host } from '../host/host.js';
import { mustExec } from '../host/failure.js';
import { REMOTE_HELPER, ensureHelper, helperBinary, helperPathFor } from '../native/helper.js';
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
 * The oldest Node the agent and the host's CLI run on when the host brings its own: the bundles are
 * esbuild'd for Node 20's syntax and use nothing Node 18.20 lacks; the lab runs them on Debian 12's
 * own 18.20 (test/lab). An older Node on the host, or none, gets this machine's runtime copied.
 */
export const HOST_NODE_MIN: readonly [number, number] = [18, 20];

/** `v18.20.4` -> whether it is HOST_NODE_MIN or newer. */
export function nodeNewEnough(version: string): boolean {
  const m = /^v(\d+)\.(\d+)\.\d+/.exec(version.trim());
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > HOST_NODE_MIN[0] || (major === HOST_NODE_MIN[0] && minor >= HOST_NODE_MIN[1]);
}

/** One file the agent's install puts on a host. */
export interface InstallFile {
  path: string;
  bytes: number;
  what: string;
  /** there already with exactly this content: not copied */
  present: boolean;
}

/** What installing the agent puts on a host, and what is there already; read-only (`plan --host` shows it, `run` says it before it copies). */
export interface AgentInstallPreview {
  host: string;
  /** the Node runtime the agent runs with: the host's own where it is new enough (nothing copied), else this machine's, copied */
  runtime: { path: string; version: string; hosts: boolean };
  files: InstallFile[];
  /** systemd hosts: the boot-time unit, enabled */
  unit?: { path: string; present: boolean };
  /** bytes still to copy */
  toCopy: number;
  /** nothing to copy, the unit enabled */
  current: boolean;
}

interface Content {
  path: string;
  content: Buffer | string;
  sha256: string;
  what: string;
}

const fullSha = (content: Buffer | string): string => createHash('sha256').update(content).digest('hex');

/** Each file this build could put on a host, named by its content (the wrappers depend on the runtime: wrappers()). */
function buildContents(host: Host): { node: Content; agent: Content; cli: Content; helper: Content } {
  const missing = Object.values(BUNDLE_FILES).find((file) => !existsSync(`${BUNDLES}${file}`));
  if (missing)
    throw new LiveupdateError('NOT_SUPPORTED', `the bundles for hosts are not built (${BUNDLES}${missing} is missing)`, {
      hint: 'run npm run build',
    });
  const named = (content: Buffer, prefix: string, what: string, suffix = ''): Content => {
    const sha256 = fullSha(content);
    return { content, path: `${prefix}-${sha256.slice(0, 16)}${suffix}`, sha256, what };
  };
  const bundle = (name: keyof typeof BUNDLE_FILES, what: string): Content =>
    named(readFileSync(`${BUNDLES}${BUNDLE_FILES[name]}`), `${AGENT_DIR}/${name}`, what, BUNDLE_FILES[name].slice(name.length));
  // the static helper, named by its content, on a remote host; this machine's own where the agent runs here
  const helperPath = helperPathFor(host);
  const helper = readFileSync(host.local ? helperPath : helperBinary('static'));
  return {
    node: named(readFileSync(process.execPath), `${AGENT_DIR}/node`, `the Node runtime (${process.version})`),
    agent: bundle('liveupdate-agent', 'the agent'),
    cli: bundle('liveupdate', "liveupdate's CLI for the host"),
    helper: { path: helperPath, content: helper, sha256: fullSha(helper), what: 'the static helper (VFIO, iommufd, LUO, RAM guard)' },
  };
}

/** The two wrappers, liveupdate-agent and liveupdate, each running its bundle with `runtime`. */
function wrappers(runtime: string, agent: Content, cli: Content): Content[] {
  const wrapper = (path: string, bundle: string, what: string): Content => {
    const text = `#!/bin/sh\n# liveupdate on this host; remove with 'liveupdate host uninstall'\nLIVEUPDATE_HELPER=${AGENT_HELPER} LIVEUPDATE_AGENT_DIR=${AGENT_DIR} exec ${shellQuote(runtime)} ${bundle} "$@"\n`;
    return { path, content: text, sha256: fullSha(text), what };
  };
  return [
    wrapper(AGENT_BIN, agent.path, 'the agent, run by the boot-time unit'),
    wrapper(`${AGENT_DIR}/liveupdate`, cli.path, "liveupdate's CLI, run on the host"),
  ];
}

/** One round trip: each file's sha256 where it would go, the helper's link, systemd and the unit, the host's Node. */
async function probeHost(host: Host, paths: string[]): Promise<{ said: Set<string>; node: { path: string; version: string } | undefined }> {
  const r = await host.exec(
    [
      'sh',
      '-c',
      [
        `sha256sum ${[...paths, AGENT_UNIT].join(' ')} 2>/dev/null | sed 's/^/sum /'`,
        `echo "link $(readlink ${AGENT_HELPER})"`,
        `[ -d /run/systemd/system ] && echo systemd && [ "$(systemctl is-enabled liveupdate-resume.service 2>/dev/null)" = enabled ] && echo enabled`,
        // the host's own Node, as PATH finds it (Debian names it nodejs too)
        'for n in node nodejs; do p=$(command -v "$n") && v=$("$p" --version 2>/dev/null) && { echo "node $v $p"; break; }; done',
        'true',
      ].join('; '),
    ],
    { timeoutMs: 120_000 },
  );
  const lines = r.stdout.split('\n');
  const m = lines.map((l) => /^node (v\S+) (\/.*)$/.exec(l)).find((x) => x);
  return { said: new Set(lines), node: m ? { version: m[1]!, path: m[2]! } : undefined };
}

/** What `installAgent` would do on `host`, changing nothing there. */
export async function agentInstallPreview(host: Host): Promise<AgentInstallPreview> {
  return (await prepareInstall(host)).preview;
}

async function prepareInstall(host: Host): Promise<{ preview: AgentInstallPreview; copy: Content[]; systemd: boolean }> {
  const c = buildContents(host);
  // the wrappers for both runtimes are asked at once: the host's Node decides which are wanted
  const probe = await probeHost(host, [c.node.path, c.agent.path, c.cli.path, c.helper.path, AGENT_BIN, `${AGENT_DIR}/liveupdate`]);
  const hosts = probe.node !== undefined && nodeNewEnough(probe.node.version);
  const runtime = hosts
    ? { path: probe.node!.path, version: probe.node!.version, hosts }
    : { path: c.node.path, version: process.version, hosts };
  const files = [...(hosts ? [] : [c.node]), c.agent, c.cli, ...wrappers(runtime.path, c.agent, c.cli), c.helper];
  const present = (f: { path: string; sha256: string }): boolean => probe.said.has(`sum ${f.sha256}  ${f.path}`);
  const systemd = probe.said.has('systemd');
  const unit = systemd
    ? { path: AGENT_UNIT, present: present({ path: AGENT_UNIT, sha256: fullSha(systemdUnit()) }) && probe.said.has('enabled') }
    : undefined;
  const copy = files.filter((f) => !present(f));
  const toCopy = copy.reduce((a, f) => a + Buffer.byteLength(f.content), 0);
  return {
    // the helper is copied by ensureHelper (native/helper.ts), which every run over SSH calls too
    copy: copy.filter((f) => f !== c.helper),
    systemd,
    preview: {
      host: host.name,
      runtime,
      files: files.map((f) => ({ path: f.path, bytes: Buffer.byteLength(f.content), what: f.what, present: present(f) })),
      ...(unit ? { unit } : {}),
      toCopy,
      current: !copy.length && (unit?.present ?? true) && probe.said.has(`link ${c.helper.path}`),
    },
  };
}

export interface InstallOptions {
  /** told what will be copied before anything is (not called when the host has it all) */
  onInstall?: (preview: AgentInstallPreview) => void;
  /** --no-install: refuse to copy anything; the agent must be there already, this build's */
  refuse?: boolean;
}

/**
 * Put the agent on the host: the host's own Node where it is new enough (else this machine's
 * runtime: the host needs glibc and libstdc++, which QEMU already brings), the agent's and the CLI's
 * bundles, a wrapper for each (liveupdate-agent, liveupdate), the static helper, and on systemd
 * hosts the boot-time unit, enabled. Idempotent; only what changed is copied, and the caller is told
 * what before it is.
 */
export async function installAgent(
  host: Host,
  opts: InstallOptions = {},
): Promise<{ bin: string; helper: string; runtime: string; unit?: string; preview?: AgentInstallPreview }> {
  // `liveupdate` run from the host's own copy: everything is there already
  if (host.local && fileURLToPath(import.meta.url).startsWith(`${AGENT_DIR}/`))
    return { bin: AGENT_BIN, helper: AGENT_HELPER, runtime: process.execPath };
  const { preview, copy, systemd } = await prepareInstall(host);
  if (!preview.current) {
    if (opts.refuse)
      throw new LiveupdateError(
        'NOT_SUPPORTED',
        `${host.name}: --no-install, and this build's agent is not there: ${describeInstall(preview)}; nothing was installed and nothing ran`,
        {
          hint: 'run without --no-install once (liveupdate plan --host shows what it puts there), or --via ssh: this control node drives each step and puts only the static helper on the host',
        },
      );
    opts.onInstall?.(preview);
  }
  for (const f of copy) await copyTo(host, f.content, f.path);
  // a new runtime, bundle or wrapper: it must start there before a run relies on it
  if (copy.length) {
    const v = await host.exec([`${AGENT_DIR}/liveupdate`, '--version'], { timeoutMs: 60_000 });
    if (v.exitCode !== 0) {
      throw new LiveupdateError(
        'NOT_SUPPORTED',
        `${host.name}: the agent does not start there (exit ${v.exitCode}) on ${preview.runtime.path} ${preview.runtime.version}: ${v.stderr.trim().split('\n').slice(-2).join(' / ')}`,
        {
          hint: preview.runtime.hosts
            ? "the host's own Node is used when it is new enough; remove it from PATH's first place, or report this"
            : 'the agent runs the Node runtime of this control node: the host needs x86_64 glibc 2.28+ and libstdc++ (QEMU brings both)',
        },
      );
    }
  }
  // the helper: verified by its whole sha256 (once per connection), uploaded if it is not this build's
  const helper = await ensureHelper(host);
  if (!preview.current) await mustExec(host, ['ln', '-sfn', helper, AGENT_HELPER], 'link the helper');
  const done = { bin: AGENT_BIN, helper: AGENT_HELPER, runtime: preview.runtime.path, preview };
  if (!systemd) return done;
  if (!preview.unit!.present) {
    await copyTo(host, systemdUnit(), AGENT_UNIT, 0o644);
    await mustExec(host, ['systemctl', 'daemon-reload'], 'reload systemd');
    await mustExec(host, ['systemctl', 'enable', 'liveupdate-resume.service'], 'enable the boot-time resume');
  }
  return { ...done, unit: AGENT_UNIT };
}

/** `3 files, 101.2 MB to copy (...); the unit ...` */
export function describeInstall(p: AgentInstallPreview): string {
  const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
  const copy = p.files.filter((f) => !f.present);
  return [
    copy.length
      ? `${copy.length} file${copy.length === 1 ? '' : 's'}, ${mb(p.toCopy)} to copy (${copy.map((f) => `${f.path} ${mb(f.bytes)}: ${f.what}`).join('; ')})`
      : 'no file to copy',
    p.runtime.hosts
      ? `the host's own Node ${p.runtime.version} (${p.runtime.path}) runs it: no runtime copied`
      : `the Node runtime ${p.runtime.version} copied (the host has no Node ${HOST_NODE_MIN.join('.')}+)`,
    ...(p.unit && !p.unit.present ? [`the systemd unit ${p.unit.path}, enabled`] : []),
  ].join('; ');
}

/**
 * Remove everything liveupdate installed on the host (the unit, the agent's folder, the helper's);
 * with `purge` also the profile's journal, the record of its runs, and the folders left empty.
 * Refused while a run is unfinished or the agent runs. Says what of liveupdate is left there.
 */
export async function uninstallAgent(
  host: Host,
  journal: string,
  opts: { purge?: boolean } = {},
): Promise<{ removed: string[]; kept: string[] }> {
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
  // the helper's folder on a host the control node put it on (this machine's own helper is its package's)
  for (const dir of [AGENT_DIR, ...(host.local ? [] : [dirname(REMOTE_HELPER)])]) {
    if ((await host.exec(['test', '-e', dir])).exitCode !== 0) continue;
    await mustExec(host, ['rm', '-rf', '--one-file-system', dir], `remove ${dir}`);
    removed.push(dir);
  }
  // --purge: the journal and what runs left beside it (earlier runs' journals, a stale lock's record)
  if (opts.purge) {
    const gone = await mustExec(
      host,
      ['sh', '-c', 'for f in "$1" "$1".*; do [ -f "$f" ] || continue; rm -f -- "$f" && printf "%s\\n" "$f"; done', 'sh', journal],
      `remove ${journal}`,
    );
    removed.push(...gone.split('\n').filter(Boolean));
  }
  // liveupdate's own folder, and the journal's when it is elsewhere, once nothing is left in them (rmdir removes only an empty one)
  const home = dirname(AGENT_DIR);
  if (opts.purge) for (const d of new Set([dirname(journal), home])) if ((await host.exec(['rmdir', d])).exitCode === 0) removed.push(d);
  // what of liveupdate is left: its folder's entries, and the journal (the record of the runs) and its siblings wherever they are
  const left = await host.exec([
    'sh',
    '-c',
    '[ -d "$1" ] && find "$1" -mindepth 1 -maxdepth 1; for f in "$2" "$2".*; do [ -e "$f" ] && echo "$f"; done; true',
    'sh',
    home,
    journal,
  ]);
  const kept = [...new Set(left.stdout.split('\n').filter(Boolean))].sort();
  return { removed, kept };
}

/**
 * The control node's side of the on-host agent: install it (a Node runtime and two bundled files, the
 * agent and the CLI, each by content), hand it the exact plan that was shown, start it detached from the SSH session, and
 * follow the host's own journal across the kexec. Losing the control node at any point loses only
 * the view: the agent, and at boot the boot-time resume, finish the run on the host.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { LiveupdateError } from '../errors.js';
import type { ExecuteResult } from '../exec/executor.js';
import type { ExecEvent } from '../exec/events.js';
import { journalEvents, parseJournal, parseRecord, replay, type JournalRecord } from '../exec/journal.js';
import { describeArgv, type Host } from '../host/host.js';
import { ensureHelper } from '../native/helper.js';
import type { HostFacts } from '../facts/types.js';
import type { Plan } from '../plan/types.js';
import { AGENT_BIN, AGENT_DIR, AGENT_RUNS, lockFile, type AgentRequest, type AgentResult } from '../agent/request.js';

/** Built by `npm run build` (scripts/bundle.sh): the agent, and the whole CLI, each one file with no node_modules. */
const BUNDLES = fileURLToPath(new URL('../../agent/', import.meta.url));
/** The static native helper the agent and the host's CLI run (a link to the copy named by its hash). */
const AGENT_HELPER = `${AGENT_DIR}/lu-helper`;
/** The systemd unit `install` puts on systemd hosts: the boot-time resume. */
export const AGENT_UNIT = '/etc/systemd/system/liveupdate-resume.service';

/** What is copied to a host: the agent as CommonJS (a start without the ES module loader: it runs inside the blackout at boot), the CLI as an ES module. */
const BUNDLE_FILES = { 'liveupdate-agent': 'liveupdate-agent.cjs', liveupdate: 'liveupdate.mjs' } as const;

async function must(host: Host, argv: string[], what: string, input?: Buffer, timeoutMs = 120_000): Promise<string> {
  const r = await host.exec(argv, { timeoutMs, ...(input ? { input } : {}) });
  if (r.exitCode !== 0) throw new LiveupdateError('HOST_COMMAND_FAILED', `${host.name}: ${what}: \`${describeArgv(argv)}\` exited ${r.exitCode}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' / ')}`);
  return r.stdout;
}

/** Copy `content` to `path` (gzip'd on the wire), atomically: written under a name of its own, then renamed into place. */
async function copyTo(host: Host, content: Buffer | string, path: string, mode = 0o755): Promise<void> {
  const argv = ['sh', '-c', 'mkdir -p "$(dirname "$1")" && gzip -dc > "$2" && chmod "$3" "$2" && mv -f "$2" "$1"', 'sh', path, `${path}.part.${randomUUID()}`, mode.toString(8)];
  await must(host, argv, `install ${path}`, gzipSync(content, { level: 1 }), 600_000);
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
  if (host.local && fileURLToPath(import.meta.url).startsWith(`${AGENT_DIR}/`)) return { bin: AGENT_BIN, helper: AGENT_HELPER, runtime: process.execPath };
  const missing = Object.values(BUNDLE_FILES).find((file) => !existsSync(`${BUNDLES}${file}`));
  if (missing) throw new LiveupdateError('NOT_SUPPORTED', `the bundles for hosts are not built (${BUNDLES}${missing} is missing)`, { hint: 'run npm run build' });
  // every file named by its content's hash; the wrappers and the unit are small and compared whole
  const fullSha = (content: Buffer | string): string => createHash('sha256').update(content).digest('hex');
  const named = (content: Buffer, prefix: string, suffix = ''): { content: Buffer; path: string; sha256: string } => {
    const sha256 = fullSha(content);
    return { content, path: `${prefix}-${sha256.slice(0, 16)}${suffix}`, sha256 };
  };
  const bundle = (name: keyof typeof BUNDLE_FILES) => named(readFileSync(`${BUNDLES}${BUNDLE_FILES[name]}`), `${AGENT_DIR}/${name}`, BUNDLE_FILES[name].slice(name.length));
  const byContent = [named(readFileSync(process.execPath), `${AGENT_DIR}/node`), bundle('liveupdate-agent'), bundle('liveupdate')];
  const [runtime, agentBundle, cliBundle] = byContent.map((f) => f.path) as [string, string, string];
  const wrapper = (bundle: string): string => `#!/bin/sh\n# liveupdate on this host; remove with 'liveupdate host uninstall'\nLIVEUPDATE_HELPER=${AGENT_HELPER} LIVEUPDATE_AGENT_DIR=${AGENT_DIR} exec ${runtime} ${bundle} "$@"\n`;
  const small = [
    { path: AGENT_BIN, text: wrapper(agentBundle), mode: 0o755 },
    { path: `${AGENT_DIR}/liveupdate`, text: wrapper(cliBundle), mode: 0o755 },
  ];
  // one round trip says what is there already, each file by its whole sha256 (they run as root:
  // a file changed on the host since it was copied is copied again, never run): on a host set up
  // before, that is all it costs
  const probe = await host.exec(['sh', '-c', [
    `sha256sum ${[...byContent.map((f) => f.path), ...small.map((f) => f.path), AGENT_UNIT].join(' ')} 2>/dev/null | sed 's/^/sum /'`,
    `echo "link $(readlink ${AGENT_HELPER})"`,
    `[ -d /run/systemd/system ] && echo systemd && [ "$(systemctl is-enabled liveupdate-resume.service 2>/dev/null)" = enabled ] && echo enabled`,
    'true',
  ].join('; ')], { timeoutMs: 120_000 });
  const said = new Set(probe.stdout.split('\n'));
  const same = (path: string, sha256: string): boolean => said.has(`sum ${sha256}  ${path}`);
  const fresh = byContent.filter((f) => !same(f.path, f.sha256));
  for (const f of fresh) await copyTo(host, f.content, f.path);
  // the wrappers and the unit: written unless they are there with exactly this text
  for (const f of small) if (!same(f.path, fullSha(f.text))) await copyTo(host, f.text, f.path, f.mode);
  if (fresh.length) {
    const v = await host.exec([`${AGENT_DIR}/liveupdate`, '--version'], { timeoutMs: 60_000 });
    if (v.exitCode !== 0) {
      throw new LiveupdateError('NOT_SUPPORTED', `${host.name}: the agent does not start there (exit ${v.exitCode}): ${v.stderr.trim().split('\n').slice(-2).join(' / ')}`, {
        hint: 'the agent runs the Node runtime of this control node: the host needs x86_64 glibc 2.28+ and libstdc++ (QEMU brings both)',
      });
    }
  }
  // the helper: verified by its whole sha256 (once per connection), uploaded if it is not this build's
  const helper = await ensureHelper(host);
  if (!said.has(`link ${helper}`)) await must(host, ['ln', '-sfn', helper, AGENT_HELPER], 'link the helper');
  if (!said.has('systemd')) return { bin: AGENT_BIN, helper: AGENT_HELPER, runtime };
  if (!same(AGENT_UNIT, fullSha(systemdUnit())) || !said.has('enabled')) {
    await copyTo(host, systemdUnit(), AGENT_UNIT, 0o644);
    await must(host, ['systemctl', 'daemon-reload'], 'reload systemd');
    await must(host, ['systemctl', 'enable', 'liveupdate-resume.service'], 'enable the boot-time resume');
  }
  return { bin: AGENT_BIN, helper: AGENT_HELPER, runtime, unit: AGENT_UNIT };
}

/** Remove everything the agent put on the host; refused while a run is unfinished or the agent runs. */
export async function uninstallAgent(host: Host, journal: string): Promise<string[]> {
  const run = replay(await readRemoteJournal(host, journal));
  const unfinished = run !== undefined && !run.finished;
  const lock = await host.exec(['cat', lockFile(journal)]);
  if (unfinished || lock.exitCode === 0) {
    throw new LiveupdateError('HOST_BUSY', `${host.name}: ${unfinished ? `the run in ${journal} is not finished` : `the lock ${lockFile(journal)} is there (${lock.stdout.trim()})`}: the agent stays; nothing was removed`, {
      hint: "finish the run first (liveupdate status says how), or abort it",
    });
  }
  const removed: string[] = [];
  if ((await host.exec(['test', '-e', AGENT_UNIT])).exitCode === 0) {
    await host.exec(['systemctl', 'disable', 'liveupdate-resume.service']);
    await must(host, ['rm', '-f', AGENT_UNIT], 'remove the unit');
    await host.exec(['systemctl', 'daemon-reload']);
    removed.push(AGENT_UNIT);
  }
  if ((await host.exec(['test', '-e', AGENT_DIR])).exitCode === 0) {
    await must(host, ['rm', '-rf', '--one-file-system', AGENT_DIR], `remove ${AGENT_DIR}`);
    removed.push(AGENT_DIR);
  }
  return removed;
}

/** The host's journal records (the agent writes them), or [] when there is none. */
export async function readRemoteJournal(host: Host, journal: string): Promise<JournalRecord[]> {
  const r = await host.exec(['cat', journal]);
  return r.exitCode === 0 ? parseJournal(r.stdout, `${host.name}:${journal}`) : [];
}

export interface FollowOptions {
  emit: (e: ExecEvent) => void;
  /** give up following (the host goes on) after this long without an answer from the host */
  silenceMs: number;
  /** aborted (Ctrl-C): stop following; the host goes on */
  signal?: AbortSignal;
  /** between polls of the host's journal */
  pollMs?: number;
}

/** died: the agent's process is gone with no result (killed, crashed, or left behind on the old boot) */
export type Followed = { state: 'result'; result: AgentResult } | { state: 'detached'; why: string } | { state: 'died'; why: string; log: string };

/**
 * Follow the host's journal from byte `from` until the request's result.json appears: one exec per
 * poll (inode, new bytes, result); across the kexec, reconnect until the host answers again.
 */
export async function followAgent(host: Host, spool: string, journal: string, start: { inode: string; offset: number }, o: FollowOptions): Promise<Followed> {
  let { inode, offset } = start;
  let partial = '';
  let lastAnswer = Date.now();
  // The result is read first: once it exists the journal is complete, so the tail after it misses
  // nothing. Then whether the agent lives: its pid on this boot (a pid of another boot is no proof).
  const script = [
    'res=$(cat "$4/result.json" 2>/dev/null); i=$(stat -c %i "$1" 2>/dev/null)',
    'read -r pid boot < "$4/agent.pid" 2>/dev/null; a=starting',
    '[ -n "$pid" ] && { a=gone; [ "$boot" = "$(cat /proc/sys/kernel/random/boot_id)" ] && kill -0 "$pid" 2>/dev/null && a=alive; }',
    'echo "${i:-none} $a"; [ "$i" = "$2" ] && tail -c +"$3" "$1"; printf "\\n\\036\\n%s" "$res"; true',
  ].join('\n');
  let gone = 0;
  const startedAt = Date.now();
  for (;;) {
    if (o.signal?.aborted) return { state: 'detached', why: 'interrupted' };
    try {
      const r = await host.exec(['sh', '-c', script, 'sh', journal, inode, String(offset + 1), spool], { timeoutMs: 15_000 });
      lastAnswer = Date.now();
      const nl = r.stdout.indexOf('\n');
      const [nowInode = 'none', agent = 'starting'] = r.stdout.slice(0, nl).split(' ');
      const sep = r.stdout.lastIndexOf('\n\x1e\n');
      if (nowInode !== inode) {
        // the journal was started afresh (a finished run moved aside, or there was none): read the
        // new one from its start at once, before taking a result (this poll read none of it)
        inode = nowInode;
        offset = 0;
        partial = '';
        continue;
      } else {
        const body = r.stdout.slice(nl + 1, sep);
        offset += Buffer.byteLength(body);
        const lines = (partial + body).split('\n');
        partial = lines.pop() ?? '';
        const records = lines.filter((l) => l.trim()).map(parseRecord);
        for (const e of journalEvents(records)) o.emit(e);
      }
      const tail = r.stdout.slice(sep + 3).trim();
      if (tail && nowInode === inode && partial === '') {
        const result = JSON.parse(tail) as AgentResult;
        return { state: 'result', result };
      }
      // twice in a row, so an agent that wrote its result and exited between two reads is not taken for dead
      gone = !tail && agent === 'gone' ? gone + 1 : 0;
      const neverStarted = agent === 'starting' && Date.now() - startedAt > 120_000;
      if (gone >= 2 || neverStarted) {
        const log = (await host.exec(['tail', '-n', '5', `${spool}/agent.log`])).stdout.trim();
        return { state: 'died', why: neverStarted ? 'the agent did not start within 120 s' : 'the agent is gone without a result (killed, crashed, or ended with the old kernel and nothing resumed the run on this boot)', log };
      }
    } catch (e) {
      if (e instanceof SyntaxError) throw e;
      // the host went down (kexec) or the network did: reconnect on the next poll
      host.reset?.();
      if (Date.now() - lastAnswer > o.silenceMs) return { state: 'detached', why: `no answer from ${host.name} for ${Math.round(o.silenceMs / 1000)} s` };
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 250));
  }
}

export interface AgentRun {
  requestId: string;
  spool: string;
  journal: string;
}

/** Where the journal is now (inode, size): the follower reads only what is written after. */
async function journalMark(host: Host, journal: string): Promise<{ inode: string; offset: number }> {
  const r = await host.exec(['sh', '-c', 'stat -c "%i %s" "$1" 2>/dev/null || echo "none 0"', 'sh', journal]);
  const [inode, size] = r.stdout.trim().split(' ');
  return { inode: inode ?? 'none', offset: Number(size ?? 0) };
}

/** Hand the plan to the agent and start it, detached from this session; follow with `followAgent`. */
export async function startAgent(host: Host, req: { command: string; plan: Plan; abortPlan?: Plan; facts?: HostFacts; journal: string }): Promise<AgentRun & { mark: { inode: string; offset: number } }> {
  const installed = await installAgent(host);
  const requestId = randomUUID();
  const spool = `${AGENT_RUNS}/${requestId}`;
  const request: AgentRequest = { requestId, who: `${userInfo().username}@${hostname()}`, at: Date.now(), command: req.command, plan: req.plan, ...(req.abortPlan ? { abortPlan: req.abortPlan } : {}), ...(req.facts ? { facts: req.facts } : {}), journal: req.journal, helper: installed.helper };
  await host.put(JSON.stringify(request) + '\n', `${spool}/request.json`, 0o600);
  const mark = await journalMark(host, req.journal);
  await must(host, ['sh', '-c', 'cd / && setsid -f "$1" run "$2" </dev/null >>"$2/agent.log" 2>&1', 'sh', AGENT_BIN, spool], 'start the agent');
  return { requestId, spool, journal: req.journal, mark };
}

/** The newest request on the host (what `status --follow` follows), if any. */
export async function latestRequest(host: Host): Promise<{ spool: string; request: AgentRequest; result?: AgentResult } | undefined> {
  const r = await host.exec(['sh', '-c', 'd=$(readlink -f "$1/latest") && echo "$d" && cat "$d/request.json" && echo && { cat "$d/result.json" 2>/dev/null; true; }', 'sh', AGENT_RUNS]);
  if (r.exitCode !== 0) return undefined;
  const [spool, request, result] = r.stdout.split('\n');
  return { spool: spool!, request: JSON.parse(request!) as AgentRequest, ...(result?.trim() ? { result: JSON.parse(result) as AgentResult } : {}) };
}

/** The result as the executor would have returned it; a refusal is the error it was on the host. */
export function agentOutcome(r: AgentResult): ExecuteResult {
  if (r.state === 'refused') throw new LiveupdateError(r.code === 'BUG' ? 'STEP_FAILED' : (r.code as 'HOST_BUSY'), `the agent on the host refused: ${r.message}`, r.hint ? { hint: r.hint } : {});
  return { ok: r.ok, failures: r.failures, fromJournal: r.fromJournal, blackouts: r.blackouts, runId: r.runId, ...(r.aborted ? { aborted: r.aborted } : {}) };
}

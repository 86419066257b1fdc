/**
 * The control node's side of the on-host agent: hand it the exact plan that was shown, start it
 * detached from the SSH session, and follow the host's own journal across the kexec (putting the
 * agent there is app/agent-install.ts). Losing the control node at any point loses only the view:
 * the agent, and at boot the boot-time resume, finish the run on the host.
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { LiveupdateError } from '../errors.js';
import type { ExecuteResult } from '../exec/executor.js';
import type { ExecEvent } from '../exec/events.js';
import { journalEvents, parseRecord } from '../exec/journal.js';
import type { Host } from '../host/host.js';
import { mustExec } from '../host/failure.js';
import type { HostFacts } from '../facts/types.js';
import type { Plan } from '../plan/types.js';
import { AGENT_BIN, AGENT_RUNS, type AgentRequest, type AgentResult } from '../agent/request.js';
import { installAgent, type InstallOptions } from './agent-install.js';

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
export type Followed =
  { state: 'result'; result: AgentResult } | { state: 'detached'; why: string } | { state: 'died'; why: string; log: string };

/**
 * Follow the host's journal from byte `from` until the request's result.json appears: one exec per
 * poll (inode, new bytes, result); across the kexec, reconnect until the host answers again.
 */
export async function followAgent(
  host: Host,
  spool: string,
  journal: string,
  start: { inode: string; offset: number },
  opts: FollowOptions,
): Promise<Followed> {
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
    if (opts.signal?.aborted) return { state: 'detached', why: 'interrupted' };
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
        for (const e of journalEvents(records)) opts.emit(e);
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
        return {
          state: 'died',
          why: neverStarted
            ? 'the agent did not start within 120 s'
            : 'the agent is gone without a result (killed, crashed, or ended with the old kernel and nothing resumed the run on this boot)',
          log,
        };
      }
    } catch (e) {
      if (e instanceof SyntaxError) throw e;
      // the host went down (kexec) or the network did: reconnect on the next poll
      host.reset?.();
      if (Date.now() - lastAnswer > opts.silenceMs)
        return { state: 'detached', why: `no answer from ${host.name} for ${Math.round(opts.silenceMs / 1000)} s` };
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
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
export async function startAgent(
  host: Host,
  req: { command: string; plan: Plan; abortPlan?: Plan; facts?: HostFacts; journal: string; install?: InstallOptions },
): Promise<AgentRun & { mark: { inode: string; offset: number } }> {
  const installed = await installAgent(host, req.install);
  const requestId = randomUUID();
  const spool = `${AGENT_RUNS}/${requestId}`;
  const request: AgentRequest = {
    requestId,
    who: `${userInfo().username}@${hostname()}`,
    at: Date.now(),
    command: req.command,
    plan: req.plan,
    ...(req.abortPlan ? { abortPlan: req.abortPlan } : {}),
    ...(req.facts ? { facts: req.facts } : {}),
    journal: req.journal,
    helper: installed.helper,
  };
  await host.put(JSON.stringify(request) + '\n', `${spool}/request.json`, 0o600);
  const mark = await journalMark(host, req.journal);
  await mustExec(
    host,
    ['sh', '-c', 'cd / && setsid -f "$1" run "$2" </dev/null >>"$2/agent.log" 2>&1', 'sh', AGENT_BIN, spool],
    'start the agent',
  );
  return { requestId, spool, journal: req.journal, mark };
}

/**
 * The newest request on the host (what `status --follow` follows), if any: the spool whose
 * request.json a control node wrote last. Not the agent's `latest` link, which the agent sets only
 * once it runs: followed right after a detach, a slow start would make the previous, finished
 * request look like the newest.
 */
export async function latestRequest(host: Host): Promise<{ spool: string; request: AgentRequest; result?: AgentResult } | undefined> {
  const r = await host.exec([
    'sh',
    '-c',
    'f=$(ls -td -- "$1"/*/request.json 2>/dev/null | head -n 1) && [ -n "$f" ] && d=$(dirname "$f") && echo "$d" && cat "$d/request.json" && echo && { cat "$d/result.json" 2>/dev/null; true; }',
    'sh',
    AGENT_RUNS,
  ]);
  if (r.exitCode !== 0) return undefined;
  const [spool, request, result] = r.stdout.split('\n');
  return {
    spool: spool!,
    request: JSON.parse(request!) as AgentRequest,
    ...(result?.trim() ? { result: JSON.parse(result) as AgentResult } : {}),
  };
}

/** The result as the executor would have returned it; a refusal is the error it was on the host. */
export function agentOutcome(r: AgentResult): ExecuteResult {
  if (r.state === 'refused')
    throw new LiveupdateError(
      r.code === 'BUG' ? 'STEP_FAILED' : (r.code as 'HOST_BUSY'),
      `the agent on the host refused: ${r.message}`,
      r.hint ? { hint: r.hint } : {},
    );
  return {
    ok: r.ok,
    failures: r.failures,
    fromJournal: r.fromJournal,
    blackouts: r.blackouts,
    runId: r.runId,
    ...(r.changed !== undefined ? { changed: r.changed } : {}),
    ...(r.aborted ? { aborted: r.aborted } : {}),
  };
}

/**
 * The on-host agent: runs a plan the control node left in a spool folder, on this machine, with the
 * journal and the lock on this machine's disk; and at boot, finishes a run whose kexec brought the host
 * here. No SSH round trip is inside the blackout and no control node is needed to end it.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { channel } from 'node:diagnostics_channel';
import { basename, dirname, join } from 'node:path';
import { errorMessage, LiveupdateError } from '../errors.js';
import { execute, executeGuarded } from '../exec/executor.js';
import { Journal, jumped } from '../exec/journal.js';
import { acquireLock, describeOwner } from '../exec/lock.js';
import { factsDrift } from '../facts/drift.js';
import { probeFacts, probeTargetsOf } from '../facts/gather.js';
import { LocalHost } from '../host/local.js';
import type { Plan } from '../plan/types.js';
import { plainLine } from '../step-line.js';
import { AGENT_RUNS, lockFile, PID_FILE, type AgentRequest, type AgentResult } from './request.js';

/**
 * Each step end the agent has journalled, published as `{ id, count }` (the count within this
 * request) on a diagnostics channel: nothing happens unless something in the process subscribed.
 * The crash tests do, through a preload (test/helpers/agent-failpoint.ts), to stop the agent at an
 * exact step boundary; the agent itself has no test switch.
 */
const stepEnded = channel('liveupdate:agent:step-end');

const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const say = (line: string): void => void process.stdout.write(`[liveupdate-agent ${new Date().toISOString()}] ${line}\n`);

function writeDurably(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  writeSync(fd, text);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, file);
}

/** Every string in a plan's steps (argv words, paths, sockets, check targets): what it depends on. */
function planWords(plan: Plan): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.add(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(plan.steps);
  return out;
}

export function readRequest(spool: string): AgentRequest {
  return JSON.parse(readFileSync(join(spool, 'request.json'), 'utf8')) as AgentRequest;
}

/** Run the request in `spool`; `who` overrides the requester (the boot-time resume). Exit code: 0 done, 1 failed, 2 refused. */
export async function runRequest(spool: string, who?: string, stop?: AbortSignal): Promise<number> {
  const req = readRequest(spool);
  const boot = bootId();
  const finish = (r: AgentResult): number => {
    writeDurably(join(spool, 'result.json'), JSON.stringify(r) + '\n');
    return r.state === 'refused' ? 2 : r.ok && (!r.aborted || r.aborted.ok) ? 0 : 1;
  };
  const refuse = (e: unknown): number => {
    const err = e instanceof LiveupdateError ? e : undefined;
    say(`refused: ${errorMessage(e)}`);
    return finish({
      requestId: req.requestId,
      at: Date.now(),
      bootId: boot,
      state: 'refused',
      code: err?.code ?? 'BUG',
      message: errorMessage(e),
      ...(err?.hint ? { hint: err.hint } : {}),
    });
  };
  writeDurably(join(spool, PID_FILE), `${process.pid} ${boot}\n`);
  let lock;
  try {
    lock = acquireLock(lockFile(req.journal), { runId: req.requestId, who: who ?? req.who, bootId: boot, command: req.command });
  } catch (e) {
    return refuse(e);
  }
  let journal: Journal | undefined;
  try {
    // the request that holds the host is the one the boot-time resume and `status --follow` look at
    // (pids repeat across boots: a link a crashed agent left under this name goes first)
    const latest = join(dirname(spool), 'latest');
    rmSync(`${latest}.${process.pid}`, { force: true });
    symlinkSync(basename(spool), `${latest}.${process.pid}`);
    renameSync(`${latest}.${process.pid}`, latest);
    if (lock.replaced) say(`took over a stale lock (${describeOwner(lock.replaced.owner)}): ${lock.replaced.why}`);
    say(`${req.command} for ${req.who}: ${req.plan.steps.length} steps, journal ${req.journal}`);
    const host = new LocalHost(req.helper);
    // a request fresh from a control node: the host must read as it did when the plan was made
    // (the boot-time resume continues a run that began in another boot: its facts were checked then)
    if (who === undefined) {
      if (!req.facts) say("the plan was made from a facts file (--facts): the host's facts are not compared with it");
      else {
        const words = planWords(req.plan);
        const drift = factsDrift(
          req.facts,
          await probeFacts(
            host,
            probeTargetsOf(
              req.facts,
              req.plan.vms.map((v) => ({ name: v.name, pidfile: v.pidfile })),
            ),
          ),
          (m) => words.has(m.target) || words.has(m.source),
        );
        if (drift.length) {
          throw new LiveupdateError(
            'FACTS_MISMATCH',
            `the host changed since the plan was made (${req.facts.collectedAt}): ${drift.join('; ')}`,
            {
              hint: 'nothing was run; run the same command again to plan from what the host is now, and review that plan',
            },
          );
        }
      }
    }
    journal = Journal.open(req.journal);
    const j = journal;
    let ended = 0;
    const result = await executeGuarded(
      req.plan,
      req.abortPlan,
      (plan) =>
        execute({
          plan,
          host,
          journal: j,
          liveBootId: boot,
          runId: req.requestId,
          ...(stop ? { stop } : {}),
          emit: (e) => {
            const line = plainLine(e);
            if (line) process.stdout.write(line);
            if (e.type === 'step-end') stepEnded.publish({ id: e.id, count: ++ended });
          },
        }),
      (id) => say(`${id} failed before the point of no return: aborting, every VM resumes on this kernel`),
    );
    say(result.ok ? 'done' : `failed: ${result.failures.map((f) => `${f.id}: ${f.message}`).join('; ')}`);
    return finish({ requestId: req.requestId, at: Date.now(), bootId: boot, state: 'finished', ...result });
  } catch (e) {
    return refuse(e);
  } finally {
    journal?.close();
    lock.release();
  }
}

/**
 * At boot: the newest request, if its run jumped (kexec -e) from another boot and is not finished,
 * is run again here (the journal skips what is done). Once per boot: a failure is left for an
 * operator, never retried blindly.
 */
export async function bootResume(stop?: AbortSignal): Promise<number> {
  const latest = join(AGENT_RUNS, 'latest');
  if (!existsSync(latest)) return (say('no request on this host: nothing to resume'), 0);
  const spool = realpathSync(latest);
  const req = readRequest(spool);
  const st = Journal.open(req.journal);
  const run = st.openRun;
  st.close();
  const jump = jumped(run);
  const here = bootId();
  if (!run || !jump || jump.bootId === here) return (say(`nothing pending in ${req.journal}`), 0);
  const marker = join(spool, `boot-${here}`);
  if (existsSync(marker)) return (say(`the boot-time resume already ran in this boot (${marker}); not again: see 'liveupdate status'`), 1);
  writeDurably(marker, `${new Date().toISOString()}\n`);
  say(`run ${run.run.runId} jumped from boot ${jump.bootId}: resuming its VMs on boot ${here}`);
  return runRequest(spool, 'boot-time resume', stop);
}

/** `stop`: SIGTERM or SIGINT reached the agent; it stops between steps, never inside a blackout window. */
export function agentMain(argv: string[], stop?: AbortSignal): Promise<number> {
  const [cmd, arg] = argv;
  if (cmd === 'run' && arg) return runRequest(arg, undefined, stop);
  if (cmd === 'boot') return bootResume(stop);
  process.stderr.write('usage: liveupdate-agent run SPOOL_DIR | boot\n');
  return Promise.resolve(64);
}

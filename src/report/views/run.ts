/**
 * A run of plan steps on one host (prepare ... resume, run, abort; the demo's updates): the plan
 * about to run, its steps as they go, an auto-abort, a detach from the agent, a dry run's plan, the
 * outcome. A human view (lines and listr2 on stderr, a summary on stdout) and a JSON view (NDJSON
 * events, a result line last), chosen once from the reporter's style.
 */
import type { ExecuteResult } from '../../exec/executor.js';
import type { Progress } from '../../exec/events.js';
import type { Plan } from '../../plan/types.js';
import { renderPlan } from '../plan-text.js';
import { renderSummary } from '../progress.js';
import type { Reporter } from '../reporter.js';
import type { UpToDateLine } from '../documents.js';
import { describeInstall, type AgentInstallPreview } from '../../app/agent-install.js';

export interface Detach {
  requestId: string;
  host: string;
  why: string;
}

export interface RunView {
  /** the plan about to run (not the abort plan that follows a failed guard) */
  planned(plan: Plan, host: string): void;
  /** a guard failed before the point of no return: every VM is being resumed on this kernel */
  autoAbort(step: string): void;
  /** where one plan's step events go */
  steps(plan: Plan): Progress;
  /** the first Ctrl-C while this process drives the steps */
  interrupted(): void;
  /** this process stopped following the agent; `follow` is the command that follows it again */
  detached(command: string, d: Detach, follow: string): void;
  /** --dry-run: the plan that would run */
  dryRun(plan: Plan): void;
  /** the agent is about to be installed on the host: what is copied, before it is */
  installing(preview: AgentInstallPreview): void;
  /** nothing to do: the host is where the update would take it already */
  upToDate(command: string, plan: Plan): void;
  /** the run's outcome; `journal` is a file here or HOST:PATH */
  done(command: string, r: ExecuteResult & { journal: string }): void;
}

const planDocument = (plan: Plan): { type: 'plan' } & Plan => ({ type: 'plan', ...plan });
const upToDateLine = (command: string, plan: Plan): UpToDateLine => ({
  type: 'result',
  command,
  host: plan.host,
  ok: true,
  changed: false,
  upToDate: plan.upToDate ?? '',
  failures: [],
  blackouts: [],
});

/** People's view; with `into`, each step's line goes there (under a stage of the demo) instead of stderr. */
function humanRunView(out: Reporter, into?: (line: string) => void): RunView {
  return {
    planned: () => undefined,
    installing: (p) => out.say(`installing liveupdate's agent on ${p.host}: ${describeInstall(p)}`),
    autoAbort: (step) => out.say(`${step} failed before the point of no return: aborting, every VM resumes on this kernel`),
    steps: (plan) => out.steps(plan, into),
    interrupted: () =>
      out.say(
        'interrupted: stopping after the steps now running; a VM paused for the update runs again first; before the kexec what was begun is aborted. Interrupt again to exit at once (the journal says where).',
      ),
    detached: (_command, d, follow) =>
      out.say(
        `detached from ${d.host} (${d.why}): the agent there goes on by itself and no VM is left paused by this.\nfollow it again: ${follow}`,
      ),
    dryRun: (plan) => out.result(renderPlan(plan, { color: out.color }), planDocument(plan)),
    upToDate: (command, plan) =>
      out.result(
        `${command}: nothing to do: ${plan.upToDate}; no VM was touched (--force runs the update anyway)\n`,
        upToDateLine(command, plan),
      ),
    done: (command, r) => out.result(renderSummary(r, command), { type: 'result', command, ...r }),
  };
}

/** Programs' view: every fact an NDJSON line (reporter.event), the outcome the stream's result line. */
function jsonRunView(out: Reporter): RunView {
  return {
    planned: (plan, host) => out.event({ type: 'plan', phases: plan.phases, steps: plan.steps.length, host, profile: plan.profile }),
    installing: (p) => out.event({ type: 'installing', ...p }),
    autoAbort: (step) => out.event({ type: 'auto-abort', step }),
    steps: (plan) => out.steps(plan),
    interrupted: () => undefined,
    detached: (command, d, follow) => out.event({ type: 'detached', command, ...d, follow }),
    dryRun: (plan) => out.result('', planDocument(plan)),
    upToDate: (command, plan) => out.event(upToDateLine(command, plan)),
    done: (command, r) => out.event({ type: 'result', command, ...r }),
  };
}

export function runView(out: Reporter, into?: (line: string) => void): RunView {
  return out.style === 'json' ? jsonRunView(out) : humanRunView(out, into);
}

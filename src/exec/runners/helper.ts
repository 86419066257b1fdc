/** Steps the native helper does (ioctls), itself or through the LUO holder daemon. */
import { LiveupdateError } from '../../errors.js';
import { HelperError, holderRequest, runHelper } from '../../native/helper.js';
import type { Step } from '../../plan/types.js';
import { fill, type Outcome, type RunEnv } from './env.js';

/** A dotted path into a helper result: `then.hold.pid`, `handles.ram-vm1.fd`. */
function pick(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const k of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

export async function runHelperStep(step: Extract<Step, { kind: 'helper-ioctl' }>, env: RunEnv): Promise<Outcome> {
  if (step.holder) {
    const answers = [];
    for (const op of step.program.ops) {
      const r = await holderRequest(env.host, step.holder, op);
      if (!r.ok)
        throw new HelperError(
          r.error ?? { op: op.op, errno: 0, errnoName: '', code: 'failed', message: 'failed' },
          `${step.id} (holder ${step.holder})`,
        );
      answers.push(r);
    }
    const vars: Record<string, string> = {};
    if (step.vars) {
      // run-time values from the holder's own account of itself: {pid, handles}
      const st = await holderRequest(env.host, step.holder, { op: 'status' });
      for (const [k, path] of Object.entries(step.vars)) {
        const v = pick(st, path);
        if (typeof v !== 'string' && typeof v !== 'number')
          throw new LiveupdateError('HELPER_ERROR', `${step.id}: the holder's status has no ${path} (for {${k}})`);
        vars[k] = String(v);
      }
      Object.assign(env.vars, vars);
    }
    return { holder: step.holder, answers, ...(step.vars ? { vars } : {}) };
  }
  // run-time values ({holder.pid}, {memfd.VM}) fill the program's strings as they do argv
  const program = JSON.parse(fill(JSON.stringify(step.program), env.vars)) as typeof step.program;
  const doc = await runHelper(env.host, program, { allowFailure: true });
  if (doc.error?.code === 'mismatch') {
    // what to do is part of the message: a step's failure is reported by its message
    throw new LiveupdateError(
      'RAM_CHANGED',
      `${doc.error.message}; nothing was started on that RAM, and its device state and fingerprint are kept: once the RAM is back, \`liveupdate resume\` checks it again and goes on`,
    );
  }
  if (!doc.ok) throw new HelperError(doc.error!, step.id);
  const vars: Record<string, string> = {};
  for (const [k, path] of Object.entries(step.vars ?? {})) {
    const v = pick(doc, path);
    if (typeof v !== 'string' && typeof v !== 'number')
      throw new LiveupdateError('HELPER_ERROR', `${step.id}: the helper's result has no ${path} (for {${k}})`);
    vars[k] = String(v);
  }
  Object.assign(env.vars, vars);
  return { ...(doc.then ? { then: doc.then } : {}), results: doc.results, handles: doc.handles ?? {}, vars };
}

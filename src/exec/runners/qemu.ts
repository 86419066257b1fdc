/** Steps that talk to QEMU: QMP commands (with the migration waits and the quit) and starting a QEMU. */
import { LiveupdateError } from '../../errors.js';
import type { Step } from '../../plan/types.js';
import { HelperError, execHelper } from '../../native/helper.js';
import { qemuIdentity, type QmpClient, type QmpEvent } from '../../qemu/qmp.js';
import { fill, sh, type Outcome, type RunEnv } from './env.js';

interface MigrateInfo {
  status: string;
  'error-desc'?: string;
  downtime?: number;
  'total-time'?: number;
  'setup-time'?: number;
  ram?: { transferred?: number };
}

/** Until the migration reaches one of `until`: MIGRATION events, with a query-migrate poll as a safety net. */
async function waitMigration(c: QmpClient, until: string[], timeoutMs: number): Promise<MigrateInfo> {
  const terminal = new Set([...until, 'failed', 'cancelled']);
  const deadline = Date.now() + timeoutMs;
  return new Promise<MigrateInfo>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(timer);
      c.off('event', onEvent);
      c.off('closed', onClosed);
      fn();
    };
    const settle = async (): Promise<void> => {
      try {
        const info = await c.execute<MigrateInfo>('query-migrate', undefined, { timeoutMs: 5000 });
        if (terminal.has(info.status)) finish(() => resolve(info));
      } catch (e) {
        finish(() => reject(e instanceof Error ? e : new Error(String(e))));
      }
    };
    const onEvent = (e: QmpEvent): void => {
      if (e.event === 'MIGRATION' && terminal.has(String(e.data?.['status']))) void settle();
    };
    const onClosed = (e: Error): void => finish(() => reject(e));
    const poll = setInterval(() => void settle(), 250);
    const timer = setTimeout(() => finish(() => reject(new LiveupdateError('QMP_TIMEOUT', `migration on ${c.label} did not finish within ${timeoutMs / 1000}s`))), Math.max(0, deadline - Date.now()));
    c.on('event', onEvent);
    c.once('closed', onClosed);
    void settle();
  });
}

export async function runQmp(step: Extract<Step, { kind: 'qmp' }>, env: RunEnv): Promise<Outcome> {
  const socket = fill(step.socket, env.vars);
  const c = await env.qmp.get(socket);
  if (step.command === 'quit') {
    // QEMU removes its pidfile as it exits: read the pid before asking it to quit
    const pid = step.pidfile ? await env.host.fetch(fill(step.pidfile, env.vars)).then((b) => /^\d+$/.test(b.toString().trim()) ? b.toString().trim() : undefined, () => undefined) : undefined;
    const closed = new Promise<void>((resolve) => (c.closed ? resolve() : c.once('closed', () => resolve())));
    await c.execute('quit', undefined, { timeoutMs: 10_000 }).catch((e: LiveupdateError) => {
      if (e.code !== 'QMP_CLOSED') throw e; // QEMU may close before replying: that is the quit
    });
    await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new LiveupdateError('QMP_TIMEOUT', `${step.vm}: QEMU did not exit within 10 s of quit`)), 10_000))]);
    env.qmp.drop(socket);
    // QMP closes before the process is gone; until it is, its RAM file is still open (umount: EBUSY).
    // A zombie has let go of everything (an init that reaps slowly must not hold the step).
    if (pid && env.host.waitGone) {
      if (!(await env.host.waitGone(Number(pid), 10_000))) throw new LiveupdateError('HOST_COMMAND_FAILED', `${step.vm}: wait for QEMU (pid ${pid}) to exit: process ${pid} still alive 10 s after quit`);
    } else if (pid) await sh(env, ['sh', '-c', 'i=0; while s=$(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null) && [ "${s%% *}" != Z ]; do [ $i -ge 200 ] && { echo "process $1 still alive 10 s after quit" >&2; exit 1; }; i=$((i+1)); sleep 0.05; done', 'sh', pid], `${step.vm}: wait for QEMU (pid ${pid}) to exit`, 15_000);
    return {};
  }
  const args = step.arguments ? (JSON.parse(fill(JSON.stringify(step.arguments), env.vars)) as Record<string, unknown>) : undefined;
  const started = Date.now();
  await c.execute(step.command, args, { timeoutMs: 30_000 });
  if (!step.wait) return { ms: Date.now() - started };
  let info: MigrateInfo;
  try {
    info = await waitMigration(c, step.wait.until, step.wait.timeoutMs);
  } catch (e) {
    if (c.closed) {
      throw new LiveupdateError('QEMU_FAILED', `QEMU of ${step.vm} exited during ${step.command}: its device state was not ${step.command === 'migrate' ? 'saved' : 'loaded'}; guest RAM is untouched in its backing file`, { cause: e });
    }
    throw e;
  }
  if (info.status !== 'completed' && !step.wait.until.includes(info.status)) {
    let after = '';
    if (step.command === 'migrate') {
      // The old QEMU still has everything: put the VM back rather than leave it paused.
      await c.execute('cont', undefined, { timeoutMs: 10_000 }).then(
        () => (after = `; ${step.vm} was resumed on its old QEMU and is running`),
        () => (after = `; ${step.vm} is paused on its old QEMU (cont failed)`),
      );
    }
    throw new LiveupdateError('MIGRATION_FAILED', `${step.command} of ${step.vm} ${info.status}: ${info['error-desc'] ?? 'QEMU gave no reason'}${after}`);
  }
  return { ms: Date.now() - started, status: info.status, downtimeMs: info.downtime, totalMs: info['total-time'], bytes: info.ram?.transferred };
}

export async function runQemuStart(step: Extract<Step, { kind: 'qemu-start' }>, env: RunEnv): Promise<Outcome> {
  const argv = step.argv.map((a) => fill(a, env.vars));
  let r: { exitCode: number; stderr: string };
  if (step.noTruncate) {
    // the helper installs its seccomp filter, prints its result, and execs QEMU (whose exit status this is)
    const h = await execHelper(env.host, { ops: [{ op: 'guard.no_truncate', sizes: step.noTruncate }], then: { exec: argv } });
    if (!h.doc.ok) throw new HelperError(h.doc.error!, step.id);
    r = h;
  } else {
    r = await env.host.exec(argv, { timeoutMs: 60_000 });
  }
  if (r.exitCode !== 0) {
    const why = r.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
    throw new LiveupdateError('QEMU_FAILED', `QEMU for ${step.vm} did not start (exit ${r.exitCode}): ${why || 'no message'}`);
  }
  if (!step.expectVersion && !step.expectMachine) return {};
  // The new QEMU is paused with nothing loaded: checking it here costs two QMP round trips.
  // a QEMU that just started on a loaded host may take a while to greet: the wait only bounds a failure
  const c = await env.qmp.get(fill(step.socket, env.vars), 30_000);
  const got = await qemuIdentity(c);
  const wrong =
    step.expectVersion && got.version !== step.expectVersion
      ? `${argv[0]} is QEMU ${got.version} but the plan restores with QEMU ${step.expectVersion} (the binary changed since the plan)`
      : step.expectMachine && got.machine !== step.expectMachine
        ? `${argv[0]} started machine type ${got.machine} but the VM runs ${step.expectMachine}`
        : undefined;
  if (wrong) {
    await c.execute('quit').catch(() => undefined);
    env.qmp.drop(fill(step.socket, env.vars));
    throw new LiveupdateError('QEMU_FAILED', `${step.vm}: ${wrong}; not loading its state (the new QEMU was stopped, the state is untouched). Plan again and resume.`);
  }
  return got;
}

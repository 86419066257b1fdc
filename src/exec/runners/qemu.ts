/** Steps that talk to QEMU: QMP commands (with the migration waits and the quit) and starting a QEMU. */
import { LiveupdateError } from '../../errors.js';
import type { CprStart, Step } from '../../plan/types.js';
import { STOP_WAITING } from '../../qemu/cpr.js';
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
    const timer = setTimeout(
      () => finish(() => reject(new LiveupdateError('QMP_TIMEOUT', `migration on ${c.label} did not finish within ${timeoutMs / 1000}s`))),
      Math.max(0, deadline - Date.now()),
    );
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
    const pid = step.pidfile
      ? await env.host.fetch(fill(step.pidfile, env.vars)).then(
          (b) => (/^\d+$/.test(b.toString().trim()) ? b.toString().trim() : undefined),
          () => undefined,
        )
      : undefined;
    const closed = new Promise<void>((resolve) => (c.closed ? resolve() : c.once('closed', () => resolve())));
    await c.execute('quit', undefined, { timeoutMs: 10_000 }).catch((e: LiveupdateError) => {
      if (e.code !== 'QMP_CLOSED') throw e; // QEMU may close before replying: that is the quit
    });
    await Promise.race([
      closed,
      new Promise((_, rej) =>
        setTimeout(() => rej(new LiveupdateError('QMP_TIMEOUT', `${step.vm}: QEMU did not exit within 10 s of quit`)), 10_000),
      ),
    ]);
    env.qmp.drop(socket);
    // QMP closes before the process is gone; until it is, its RAM file is still open (umount: EBUSY).
    // A zombie has let go of everything (an init that reaps slowly must not hold the step).
    if (pid && env.host.waitGone) {
      if (!(await env.host.waitGone(Number(pid), 10_000)))
        throw new LiveupdateError(
          'HOST_COMMAND_FAILED',
          `${step.vm}: wait for QEMU (pid ${pid}) to exit: process ${pid} still alive 10 s after quit`,
        );
    } else if (pid)
      await sh(
        env,
        [
          'sh',
          '-c',
          'i=0; while s=$(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null) && [ "${s%% *}" != Z ]; do [ $i -ge 200 ] && { echo "process $1 still alive 10 s after quit" >&2; exit 1; }; i=$((i+1)); sleep 0.05; done',
          'sh',
          pid,
        ],
        `${step.vm}: wait for QEMU (pid ${pid}) to exit`,
        15_000,
      );
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
      throw new LiveupdateError(
        'QEMU_FAILED',
        `QEMU of ${step.vm} exited during ${step.command}: its device state was not ${step.command === 'migrate' ? 'saved' : 'loaded'}; guest RAM is untouched in its backing file`,
        { cause: e },
      );
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
    throw new LiveupdateError(
      'MIGRATION_FAILED',
      `${step.command} of ${step.vm} ${info.status}: ${info['error-desc'] ?? 'QEMU gave no reason'}${after}`,
    );
  }
  return {
    ms: Date.now() - started,
    status: info.status,
    downtimeMs: info.downtime,
    totalMs: info['total-time'],
    bytes: info.ram?.transferred,
  };
}

/**
 * A QEMU's start, observed rather than timed: `sh -c OBSERVED_START lu-start STALL CEILING ARGV...`
 * runs ARGV and waits for it. It is given up only when it made no progress for STALL seconds (the
 * profile's migration.timeout): neither the process nor a child of it (QEMU daemonizes into one)
 * used CPU time or was runnable or in disk wait, looked at once a second; or, progress or not, after
 * CEILING seconds. Its exit status is the command's (137, with the reason on stderr, when given
 * up). stdin goes to the command (the helper reads its request there); the watchdog holds no output
 * of the command's, so the command's end is seen at once, over SSH too.
 */
const OBSERVED_START = [
  'stall=$1 ceiling=$2; shift 2',
  'exec 3<&0',
  '"$@" <&3 3<&- &',
  'q=$!',
  '(',
  '  last=; still=0; t=0',
  '  while sleep 1 </dev/null >/dev/null 2>&1; do',
  '    t=$((t+1))',
  '    s=$(for p in "$q" $(cat /proc/"$q"/task/*/children 2>/dev/null); do sed "s/.*) //" /proc/"$p"/stat 2>/dev/null; done |',
  `      awk '{ c += $12 + $13; if ($1 == "R" || $1 == "D") r = 1 } END { print c + 0 "/" r + 0 }')`,
  '    case $s in */1) still=0 ;; *) if [ "${s%/*}" = "$last" ]; then still=$((still+1)); else still=0; fi ;; esac',
  '    last=${s%/*}',
  '    if [ "$still" -ge "$stall" ]; then why="made no progress for $stall s (no CPU time used, never runnable)"',
  '    elif [ "$t" -ge "$ceiling" ]; then why="was still starting after $ceiling s, the limit (10x migration.timeout)"',
  '    else continue; fi',
  '    echo "lu-start: $why: stopped" >&2',
  '    kill -9 $(cat /proc/"$q"/task/*/children 2>/dev/null) "$q" 2>/dev/null',
  '    exit 0',
  '  done',
  ') 3<&- </dev/null >/dev/null &',
  'w=$!',
  'wait "$q"; rc=$?',
  'kill "$w" 2>/dev/null',
  'exit $rc',
].join('\n');

/** `argv` as OBSERVED_START runs it: no progress for `stallMs` gives it up, and so does 10x that, progress or not. */
export function observedStart(argv: string[], stallMs: number): { argv: string[]; timeoutMs: number } {
  const stall = Math.max(1, Math.ceil(stallMs / 1000));
  return {
    argv: ['sh', '-c', OBSERVED_START, 'lu-start', String(stall), String(stall * 10), ...argv],
    timeoutMs: (stall * 10 + 30) * 1000,
  };
}

export async function runQemuStart(step: Extract<Step, { kind: 'qemu-start' }>, env: RunEnv): Promise<Outcome> {
  const argv = step.argv.map((a) => fill(a, env.vars));
  if (step.cpr) return startCprTarget(step, step.cpr, argv, env);
  const t0 = Date.now();
  let r: { exitCode: number; stderr: string };
  if (step.noTruncate) {
    // the helper installs its seccomp filter, prints its result, and execs QEMU (whose exit status this is)
    const h = await execHelper(
      env.host,
      { ops: [{ op: 'guard.no_truncate', sizes: step.noTruncate }], then: { exec: argv } },
      step.timeoutMs,
      (helper) => observedStart(helper, step.timeoutMs),
    );
    if (!h.doc.ok) throw new HelperError(h.doc.error!, step.id);
    r = h;
  } else {
    const o = observedStart(argv, step.timeoutMs);
    r = await env.host.exec(o.argv, { timeoutMs: o.timeoutMs });
  }
  if (r.exitCode !== 0) {
    const why = r.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
    throw new LiveupdateError('QEMU_FAILED', `QEMU for ${step.vm} did not start (exit ${r.exitCode}): ${why || 'no message'}`);
  }
  // how long QEMU took to daemonize: the wait, in the journal
  const startMs = Date.now() - t0;
  if (!step.expectVersion && !step.expectMachine) return { startMs };
  // The new QEMU is paused with nothing loaded: checking it here costs two QMP round trips.
  // a QEMU that just started on a loaded host may take a while to greet: the wait only bounds a failure
  const c = await env.qmp.get(fill(step.socket, env.vars), step.timeoutMs);
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
    throw new LiveupdateError(
      'QEMU_FAILED',
      `${step.vm}: ${wrong}; not loading its state (the new QEMU was stopped, the state is untouched). Plan again and resume.`,
    );
  }
  return { ...got, startMs };
}

/**
 * $1 log, $2 cpr socket, $3 main socket, $4 pidfile, then QEMU's argv (stale sockets and pidfile removed first). QEMU daemonizes only once the cpr state has
 * arrived, so it runs in the background; the wait ends when it listens on the cpr socket and has
 * written its pidfile (its pid is printed), or fails with its output when it exits first (60 s).
 */
const LAUNCH_WAITING = [
  'log=$1 sock=$2 main=$3 pf=$4; shift 4',
  'rm -f "$sock" "$main" "$pf"',
  '"$@" </dev/null >"$log" 2>&1 & q=$!',
  'i=0',
  'until [ -S "$sock" ] && [ -s "$pf" ]; do',
  '  if ! kill -0 "$q" 2>/dev/null; then wait "$q"; echo "QEMU exited ($?) before it listened on $sock: $(tail -n 3 "$log" | tr "\n" " ")" >&2; exit 1; fi',
  '  [ $i -ge 600 ] && { echo "QEMU did not listen on $sock within 60 s" >&2; exit 1; }',
  '  i=$((i+1)); sleep 0.1',
  'done',
  'cat "$pf"',
].join('\n');

/** A cpr-transfer's new QEMU: started in the background, waiting on its cpr socket (no QMP before the state arrives). */
async function startCprTarget(step: Extract<Step, { kind: 'qemu-start' }>, cpr: CprStart, argv: string[], env: RunEnv): Promise<Outcome> {
  // a new QEMU an interrupted run left waiting holds nothing of the VM: stop it (never the VM's own QEMU)
  await sh(
    env,
    ['sh', '-c', STOP_WAITING, 'sh', step.pidfile, cpr.vmPidfile, cpr.cprSocket],
    `${step.vm}: stop a new QEMU left waiting`,
    30_000,
  );
  const out = await sh(
    env,
    ['sh', '-c', LAUNCH_WAITING, 'sh', cpr.log, cpr.cprSocket, cpr.mainSocket, step.pidfile, ...argv],
    `${step.vm}: start its new QEMU`,
    90_000,
  ).catch((e: LiveupdateError) => {
    throw new LiveupdateError(
      'QEMU_FAILED',
      `the new QEMU for ${step.vm} did not start: ${e.message}; ${step.vm} still runs on its old QEMU`,
    );
  });
  const pid = out.trim();
  if (!/^[0-9]+$/.test(pid))
    throw new LiveupdateError('QEMU_FAILED', `the new QEMU for ${step.vm} wrote '${pid}' to ${step.pidfile}, not a pid`);
  // later steps (the adopt) fill it in; the journal keeps it for a run continued later
  env.vars[cpr.pidVar] = pid;
  return { pid: Number(pid), vars: { [cpr.pidVar]: pid } };
}

/** The new QEMU takes the VM's paths: QMP socket moved (this run's connection to it closed first), pidfile written. */
export async function runQemuAdopt(step: Extract<Step, { kind: 'qemu-adopt' }>, env: RunEnv): Promise<Outcome> {
  const pid = fill(step.pid, env.vars);
  if (!/^[0-9]+$/.test(pid))
    throw new LiveupdateError('STEP_FAILED', `${step.vm}: the new QEMU's pid is not known (${step.pid} is '${pid}'); nothing was moved`);
  // QEMU serves one QMP client at a time: this run's connection to the new QEMU closes before anyone connects by the VM's path
  await env.qmp.release(fill(step.from.socket, env.vars));
  await env.qmp.release(fill(step.socket, env.vars));
  await sh(
    env,
    [
      'sh',
      '-c',
      'kill -0 "$1" || { echo "process $1 is gone" >&2; exit 1; }; if [ -e "$2" ]; then mv -f "$2" "$3"; fi; printf "%s\\n" "$1" > "$4.new" && mv -f "$4.new" "$4" && rm -f "$5"',
      'sh',
      pid,
      step.from.socket,
      step.socket,
      step.pidfile,
      step.from.pidfile,
    ],
    step.id,
  );
  return { pid: Number(pid) };
}

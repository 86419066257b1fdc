import { createHash } from 'node:crypto';
import { LiveupdateError } from '../errors.js';
import { describeArgv, type Host } from '../host/host.js';
import { LUO_HOLDER_SOCKET, type Check, type Step, type Verify } from '../plan/types.js';
import { HelperError, holderRequest, runHelper } from '../native/helper.js';
import { QmpPool } from '../qemu/pool.js';
import type { QmpClient, QmpEvent } from '../qemu/qmp.js';

/** What a step left behind for later steps and the journal (sizes, hashes, downtime...). */
export type Outcome = Record<string, unknown>;

export interface RunEnv {
  host: Host;
  qmp: QmpPool;
  /** outcomes of steps that already ran, by step id (the journal's memory) */
  outcomes: Map<string, Outcome>;
  /** run-time values for `{placeholders}` in the plan */
  vars: Record<string, string>;
}

function fill(text: string, vars: Record<string, string>): string {
  return text.replace(/\{([a-zA-Z0-9_.:-]+)\}/g, (m, k: string) => vars[k] ?? m);
}

async function sh(env: RunEnv, argv: string[], what: string, timeoutMs = 120_000): Promise<string> {
  const full = argv.map((a) => fill(a, env.vars));
  const unresolved = full.find((a) => /\{[a-zA-Z0-9_.:-]+\}/.test(a) && !a.startsWith('{"'));
  if (unresolved) throw new LiveupdateError('STEP_FAILED', `${what}: ${unresolved} has a value only known at run time that nothing provided`);
  const r = await env.host.exec(full, { timeoutMs });
  if (r.exitCode !== 0) {
    const err = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ');
    throw new LiveupdateError('HOST_COMMAND_FAILED', `${what}: \`${describeArgv(full)}\` exited ${r.exitCode}${err ? `: ${err}` : ''}`);
  }
  return r.stdout;
}

async function statusOf(env: RunEnv, socket: string): Promise<string | undefined> {
  const c = await env.qmp.alive(socket);
  if (!c) return undefined;
  try {
    return (await c.execute<{ status: string }>('query-status', undefined, { timeoutMs: 5000 })).status;
  } catch {
    return undefined;
  }
}

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

async function runQmp(step: Extract<Step, { kind: 'qmp' }>, env: RunEnv): Promise<Outcome> {
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

async function runQemuStart(step: Extract<Step, { kind: 'qemu-start' }>, env: RunEnv): Promise<Outcome> {
  const argv = step.argv.map((a) => fill(a, env.vars));
  const r = await env.host.exec(argv, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) {
    const why = r.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
    throw new LiveupdateError('QEMU_FAILED', `QEMU for ${step.vm} did not start (exit ${r.exitCode}): ${why || 'no message'}`);
  }
  if (!step.expectVersion) return {};
  // The new QEMU is paused with nothing loaded: a version check here costs one QMP round trip.
  // a QEMU that just started on a loaded host may take a while to greet: the wait only bounds a failure
  const c = await env.qmp.get(fill(step.socket, env.vars), 30_000);
  const v = await c.execute<{ qemu: { major: number; minor: number; micro: number } }>('query-version');
  const version = `${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro}`;
  if (version !== step.expectVersion) {
    await c.execute('quit').catch(() => undefined);
    env.qmp.drop(fill(step.socket, env.vars));
    throw new LiveupdateError('QEMU_FAILED', `${step.vm}: ${argv[0]} is QEMU ${version} but the device state was saved by QEMU ${step.expectVersion}; not restoring across versions (the new QEMU was stopped, the state is untouched). Install ${step.expectVersion} (or point the profile at it) and resume again.`);
  }
  return { version };
}

/** Size and sha256 of a state file, hashed here: a fetch is cheaper than a spawn inside the blackout. */
async function stateFileFacts(env: RunEnv, path: string): Promise<{ bytes: number; sha256: string } | undefined> {
  let data: Buffer;
  try {
    data = await env.host.fetch(path);
  } catch {
    return undefined;
  }
  return { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

async function runVerify(v: Verify, env: RunEnv): Promise<Outcome> {
  switch (v.kind) {
    case 'state-file': {
      // the writer renames the file into place when done; give it a moment after `completed`
      let got = await stateFileFacts(env, v.path);
      for (let waited = 0; !got && !v.savedBy && waited < 30_000; waited += 2) {
        await new Promise((r) => setTimeout(r, 2));
        got = await stateFileFacts(env, v.path);
      }
      if (!got || got.bytes === 0) throw new LiveupdateError('STEP_FAILED', `${v.vm}: device state ${v.path} is ${got ? 'empty' : 'missing'}`);
      if (v.savedBy) {
        const saved = env.outcomes.get(v.savedBy);
        if (saved && (saved['bytes'] !== got.bytes || saved['sha256'] !== got.sha256)) {
          const how = saved['bytes'] !== got.bytes ? `is ${got.bytes} bytes but ${String(saved['bytes'])} were saved (truncated?)` : 'has a different sha256 than the one saved';
          throw new LiveupdateError('STEP_FAILED', `${v.vm}: device state ${v.path} ${how}; not restoring from it. The VM stays resumable once the saved file is back.`);
        }
      }
      return got;
    }
    case 'vm-status': {
      const st = await statusOf(env, env.vars[`qmp.${v.vm}`] ?? '');
      if (st !== v.status) throw new LiveupdateError('STEP_FAILED', `${v.vm} is ${st ?? 'not answering QMP'}, expected ${v.status}`);
      return { status: st };
    }
    case 'kexec-loaded': {
      const out = await sh(env, ['cat', '/sys/kernel/kexec_loaded'], 'kexec_loaded');
      if (out.trim() !== '1') throw new LiveupdateError('STEP_FAILED', 'no kernel is staged (/sys/kernel/kexec_loaded is 0)');
      return {};
    }
    case 'filesystem': {
      const out = await sh(env, ['cat', '/proc/filesystems'], 'filesystems');
      if (!out.split('\n').some((l) => l.trim().split(/\s+/).pop() === v.fstype)) throw new LiveupdateError('STEP_FAILED', `the running kernel has no ${v.fstype} filesystem`);
      return {};
    }
    case 'carve-out': {
      const cmdline = (await sh(env, ['cat', '/proc/cmdline'], 'cmdline')).trim().split(/\s+/);
      const missing = v.params.filter((p) => !cmdline.includes(p));
      if (missing.length) throw new LiveupdateError('STEP_FAILED', `the running kernel was not booted with ${missing.join(' ')}`);
      return {};
    }
    case 'dmesg': {
      const out = await sh(env, ['dmesg'], 'dmesg');
      const lines = v.patterns.map((p) => out.split('\n').find((l) => l.includes(p)));
      const missing = v.patterns.filter((_, i) => !lines[i]);
      if (missing.length) throw new LiveupdateError('STEP_FAILED', `the kernel log lacks ${missing.map((m) => `'${m}'`).join(', ')}`);
      return { lines: lines.map((l) => l!.trim()) };
    }
    case 'boot-changed':
      return waitForNewBoot(v, env);
    case 'luo-holder': {
      // right before kexec -e: the holder must be alive and hold every session, or the VMs' RAM is gone
      const st = await holderRequest(env.host, LUO_HOLDER_SOCKET, { op: 'status' });
      const held = Object.values((st['handles'] ?? {}) as Record<string, { what: string }>).map((h) => h.what);
      const missing = v.sessions.filter((n) => !held.includes(`LUO session ${n}`));
      if (missing.length) throw new LiveupdateError('STEP_FAILED', `the LUO holder (pid ${String(st['pid'])}) does not hold ${missing.join(', ')}: a kexec now would lose those VMs' RAM`);
      // and each old QEMU maps the very memfd the holder preserves (same inode), not some other memory
      const handles = (st['handles'] ?? {}) as Record<string, { fd?: number }>;
      for (const { vm, pidfile } of v.vms ?? []) {
        const fd = handles[`ram-${vm}`]?.fd;
        const r = await env.host.exec(['sh', '-c', 'i=$(stat -L -c %i "/proc/$1/fd/$2") && q=$(cat "$3") && awk -v i="$i" \'$5==i{f=1} END{exit !f}\' "/proc/$q/maps"', 'sh', String(st['pid']), String(fd ?? -1), pidfile]);
        if (r.exitCode !== 0) throw new LiveupdateError('STEP_FAILED', `${vm}'s QEMU does not map the memfd the LUO holder preserves (ram-${vm}): a kexec now would lose its RAM`);
      }
      return { holderPid: st['pid'], sessions: v.sessions };
    }
  }
}

/** Reconnect until the host answers with a boot_id other than the recorded one, then check its cmdline. */
async function waitForNewBoot(v: Extract<Verify, { kind: 'boot-changed' }>, env: RunEnv): Promise<Outcome> {
  const before = env.vars['boot.recorded'];
  if (!before) throw new LiveupdateError('STEP_FAILED', 'cannot prove the reboot: the journal has no boot_id from before kexec -e');
  const t0 = Date.now();
  let last = 'no answer yet';
  for (;;) {
    try {
      // one read's own timeout, generous for a slow login shell; the loop is bounded by the boot timeout
      const id = (await env.host.exec(['cat', '/proc/sys/kernel/random/boot_id'], { timeoutMs: 30_000 })).stdout.trim();
      if (id && id !== before) {
        const words = (await env.host.exec(['cat', '/proc/cmdline'], { timeoutMs: 10_000 })).stdout.trim().split(/\s+/);
        const missing = v.params.filter((p) => !words.includes(p));
        if (missing.length) throw new LiveupdateError('STEP_FAILED', `the new kernel (boot ${id}) lacks ${missing.join(' ')} on its cmdline: the carve-out is not protected`);
        return { bootId: id, previousBootId: before, waitedMs: Date.now() - t0 };
      }
      last = `still boot ${before}`;
      // the old kernel is on its way down: never reuse a connection to it
      env.host.reset?.();
    } catch (e) {
      if (e instanceof LiveupdateError && e.code === 'STEP_FAILED') throw e;
      last = e instanceof Error ? e.message : String(e);
      env.host.reset?.();
    }
    if (Date.now() - t0 > v.timeoutMs) throw new LiveupdateError('STEP_FAILED', `the host did not come back on a new boot within ${v.timeoutMs / 1000}s (last: ${last})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Perform one step on the host. Throws a LiveupdateError that says what happened to the VM. */
export async function runStep(step: Step, env: RunEnv): Promise<Outcome> {
  switch (step.kind) {
    case 'exec':
    case 'mount':
    case 'umount':
    case 'kexec-load':
      await sh(env, step.argv, step.id);
      return {};
    case 'kexec-exec': {
      // Detached, so the call returns at once instead of hanging until the dead connection times
      // out; verify-boot then proves the jump. (A local orchestrator dies with the old kernel.)
      const r = await env.host.exec(['sh', '-c', '(sleep 0.2; exec "$@") </dev/null >/dev/null 2>&1 &', 'sh', ...step.argv], { timeoutMs: 15_000 }).catch(() => undefined);
      if (r && r.exitCode !== 0) throw new LiveupdateError('STEP_FAILED', `could not start ${step.argv.join(' ')} (exit ${r.exitCode}): ${r.stderr.trim()}; the host is still on its old kernel`);
      env.host.reset?.();
      env.qmp = new QmpPool(env.host);
      return {};
    }
    case 'file':
      for (const argv of step.argv) await sh(env, argv, step.id);
      return { size: step.size };
    case 'sysfs-write':
      await sh(env, ['sh', '-c', 'printf %s "$1" > "$2"', 'sh', step.value, step.path], step.id);
      return {};
    case 'cmdline':
      await env.host.put(step.bootloaderText, step.bootloaderFile, 0o644);
      await sh(env, step.argv, step.id, 300_000);
      return {};
    case 'qmp':
      return runQmp(step, env);
    case 'qemu-start':
      return runQemuStart(step, env);
    case 'verify':
      return runVerify(step.verify, env);
    case 'helper-ioctl':
      return runHelperStep(step, env);
  }
}

/** A dotted path into a helper result: `then.hold.pid`, `handles.ram-vm1.fd`. */
function pick(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const k of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

async function runHelperStep(step: Extract<Step, { kind: 'helper-ioctl' }>, env: RunEnv): Promise<Outcome> {
  if (step.holder) {
    const answers = [];
    for (const op of step.program.ops) {
      const r = await holderRequest(env.host, step.holder, op);
      if (!r.ok) throw new HelperError(r.error ?? { op: op.op, errno: 0, errnoName: '', code: 'failed', message: 'failed' }, `${step.id} (holder ${step.holder})`);
      answers.push(r);
    }
    const vars: Record<string, string> = {};
    if (step.vars) {
      // run-time values from the holder's own account of itself: {pid, handles}
      const st = await holderRequest(env.host, step.holder, { op: 'status' });
      for (const [k, path] of Object.entries(step.vars)) {
        const v = pick(st, path);
        if (typeof v !== 'string' && typeof v !== 'number') throw new LiveupdateError('HELPER_ERROR', `${step.id}: the holder's status has no ${path} (for {${k}})`);
        vars[k] = String(v);
      }
      Object.assign(env.vars, vars);
    }
    return { holder: step.holder, answers, ...(step.vars ? { vars } : {}) };
  }
  const doc = await runHelper(env.host, step.program, { allowFailure: true });
  if (!doc.ok) throw new HelperError(doc.error!, step.id);
  const vars: Record<string, string> = {};
  for (const [k, path] of Object.entries(step.vars ?? {})) {
    const v = pick(doc, path);
    if (typeof v !== 'string' && typeof v !== 'number') throw new LiveupdateError('HELPER_ERROR', `${step.id}: the helper's result has no ${path} (for {${k}})`);
    vars[k] = String(v);
  }
  Object.assign(env.vars, vars);
  return { ...(doc.then ? { then: doc.then } : {}), handles: doc.handles ?? {}, vars };
}

/** Does the host already show this done (or, for onlyIf, does the condition hold)? */
export async function holds(check: Check, env: RunEnv, stepId: string): Promise<boolean> {
  switch (check.kind) {
    case 'path-exists':
      return (await env.host.exec(['test', '-e', fill(check.path, env.vars)])).exitCode === 0;
    case 'mounted':
    case 'not-mounted': {
      const mounts = (await env.host.exec(['cat', '/proc/mounts'])).stdout.split('\n').map((l) => l.split(' '));
      const m = mounts.some((f) => f[1] === check.target && (check.kind === 'not-mounted' || f[2] === check.fstype));
      return check.kind === 'mounted' ? m : !m;
    }
    case 'cmdline-has': {
      const words = (await env.host.exec(['cat', '/proc/cmdline'])).stdout.trim().split(/\s+/);
      return check.params.every((p) => words.includes(p));
    }
    case 'kexec-loaded':
      return (await env.host.exec(['cat', '/sys/kernel/kexec_loaded'])).stdout.trim() === '1';
    case 'pci-driver': {
      const r = await env.host.exec(['readlink', `/sys/bus/pci/devices/${check.address}/driver`]);
      return r.exitCode === 0 && r.stdout.trim().endsWith(`/${check.driver}`);
    }
    case 'vm-status': {
      const st = await statusOf(env, env.vars[`qmp.${check.vm}`] ?? '');
      return st !== undefined && check.status.includes(st);
    }
    case 'vm-gone':
      return (await env.qmp.alive(env.vars[`qmp.${check.vm}`] ?? '')) === undefined;
    case 'boot-changed':
      return env.vars['boot.recorded'] !== undefined && (await env.host.exec(['cat', '/proc/sys/kernel/random/boot_id'])).stdout.trim() !== env.vars['boot.recorded'];
    case 'pmem-mode': {
      const dev = fill(check.device, env.vars).replace('/dev/', '');
      const r = await env.host.exec(['sh', '-c', 'cat "/sys/block/$1/device/mode"', 'sh', dev]);
      return r.exitCode === 0 && ['memory', 'fsdax'].includes(r.stdout.trim()) && check.mode === 'fsdax';
    }
    case 'has-filesystem': {
      const r = await env.host.exec(['blkid', '-o', 'value', '-s', 'TYPE', fill(check.device, env.vars)]);
      return r.exitCode === 0 && r.stdout.trim() === check.fstype;
    }
    case 'helper-has':
    case 'helper-absent': {
      const st = await holderRequest(env.host, check.socket, { op: 'status' }, 5000).catch(() => undefined);
      if (check.kind === 'helper-absent') return !st?.ok;
      return st?.ok === true && Object.keys(st['handles'] ?? {}).includes(check.handle);
    }
    case 'journal':
      return env.outcomes.has(stepId);
  }
}

/** Verify steps: a fact about the host or a VM that must be true, or the run stops there. */
import { kernelWords, sameCmdline } from '../../kernel-cmdline.js';
import { IMAGE_IDENTITY_SCRIPT, otherKernel, parseImageIdentity } from '../../kernel-image.js';
import { createHash } from 'node:crypto';
import { LiveupdateError } from '../../errors.js';
import { holderRequest } from '../../native/helper.js';
import { LUO_HOLDER_SOCKET, type Verify } from '../../plan/types.js';
import { qemuIdentity } from '../../qemu/qmp.js';
import { fill, sh, statusOf, type Outcome, type RunEnv } from './env.js';

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

export async function runVerify(v: Verify, env: RunEnv): Promise<Outcome> {
  switch (v.kind) {
    case 'state-file': {
      // the writer renames the file into place when done; give it a moment after `completed`
      let got = await stateFileFacts(env, v.path);
      for (let waited = 0; !got && !v.savedBy && waited < 30_000; waited += 2) {
        await new Promise((r) => setTimeout(r, 2));
        got = await stateFileFacts(env, v.path);
      }
      if (!got || got.bytes === 0)
        throw new LiveupdateError('STEP_FAILED', `${v.vm}: device state ${v.path} is ${got ? 'empty' : 'missing'}`);
      if (v.savedBy) {
        const saved = env.outcomes.get(v.savedBy);
        if (saved && (saved['bytes'] !== got.bytes || saved['sha256'] !== got.sha256)) {
          const how =
            saved['bytes'] !== got.bytes
              ? `is ${got.bytes} bytes but ${String(saved['bytes'])} were saved (truncated?)`
              : 'has a different sha256 than the one saved';
          throw new LiveupdateError(
            'STEP_FAILED',
            `${v.vm}: device state ${v.path} ${how}; not restoring from it. The VM stays resumable once the saved file is back.`,
          );
        }
      }
      return got;
    }
    case 'vm-qemu': {
      // before anything pauses: the state about to be saved is for the QEMU the plan judged
      const got = await qemuIdentity(await env.qmp.get(fill(v.socket, env.vars), 30_000));
      if (got.version !== v.version || got.machine !== v.machine) {
        throw new LiveupdateError(
          'STEP_FAILED',
          `${v.vm} runs QEMU ${got.version} on ${got.machine}, but the plan was made for QEMU ${v.version} on ${v.machine}: nothing was paused; plan again`,
        );
      }
      return got;
    }
    case 'cpr-received':
      return cprReceived(v, env);
    case 'vm-status': {
      const st = await statusOf(env, env.vars[`qmp.${v.vm}`] ?? '');
      if (st !== v.status) throw new LiveupdateError('STEP_FAILED', `${v.vm} is ${st ?? 'not answering QMP'}, expected ${v.status}`);
      return { status: st };
    }
    case 'kexec-loaded': {
      const out = await sh(env, ['cat', '/sys/kernel/kexec_loaded'], 'kexec_loaded');
      if (out.trim() !== '1') throw new LiveupdateError('STEP_FAILED', 'no kernel is staged (/sys/kernel/kexec_loaded is 0)');
      // read once per run, before the window: inside it only when this run staged nothing (its kexec phase alone)
      return v.image && env.vars['kernel.release'] === undefined ? imageIdentity(env, v.image) : {};
    }
    case 'filesystem': {
      const out = await sh(env, ['cat', '/proc/filesystems'], 'filesystems');
      if (!out.split('\n').some((l) => l.trim().split(/\s+/).pop() === v.fstype))
        throw new LiveupdateError('STEP_FAILED', `the running kernel has no ${v.fstype} filesystem`);
      return {};
    }
    case 'carve-out': {
      const cmdline = kernelWords(await sh(env, ['cat', '/proc/cmdline'], 'cmdline'));
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
      if (missing.length)
        throw new LiveupdateError(
          'STEP_FAILED',
          `the LUO holder (pid ${String(st['pid'])}) does not hold ${missing.join(', ')}: a kexec now would lose those VMs' RAM`,
        );
      // and each old QEMU maps the very memfd the holder preserves (same inode), not some other memory
      const handles = (st['handles'] ?? {}) as Record<string, { fd?: number }>;
      for (const { vm, pidfile } of v.vms ?? []) {
        const fd = handles[`ram-${vm}`]?.fd;
        const r = await env.host.exec([
          'sh',
          '-c',
          'i=$(stat -L -c %i "/proc/$1/fd/$2") && q=$(cat "$3") && awk -v i="$i" \'$5==i{f=1} END{exit !f}\' "/proc/$q/maps"',
          'sh',
          String(st['pid']),
          String(fd ?? -1),
          pidfile,
        ]);
        if (r.exitCode !== 0)
          throw new LiveupdateError(
            'STEP_FAILED',
            `${vm}'s QEMU does not map the memfd the LUO holder preserves (ram-${vm}): a kexec now would lose its RAM`,
          );
      }
      return { holderPid: st['pid'], sessions: v.sessions };
    }
  }
}

/**
 * The build string of the kernel image `image` on the host, as vars the boot proof reads after the
 * jump ({kernel.release}, {kernel.version}); none when the image is not a bzImage.
 */
export async function imageIdentity(env: RunEnv, image: string): Promise<Outcome> {
  const text = await sh(env, ['sh', '-c', IMAGE_IDENTITY_SCRIPT, 'sh', image], `read the build string of ${image}`);
  const id = parseImageIdentity(text);
  return id ? { kernel: text.trim(), vars: { 'kernel.release': id.release, 'kernel.version': id.version } } : { kernel: null };
}

/**
 * Reconnect until the host answers with a boot_id other than the recorded one, then prove it is the
 * kernel loaded: the managed params, the command line as loaded, the image's build (when it was read).
 */
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
        const r = await env.host.exec(['sh', '-c', 'cat /proc/cmdline; uname -r; uname -v'], { timeoutMs: 10_000 });
        const [cmdline = '', release = '', version = ''] = r.stdout.split('\n');
        const running = { release: release.trim(), version: version.trim() };
        const image = env.vars['kernel.release']
          ? { release: env.vars['kernel.release'], version: env.vars['kernel.version'] ?? '' }
          : undefined;
        const words = kernelWords(cmdline);
        const elsewhere = image && otherKernel(image, running);
        if (elsewhere)
          throw new LiveupdateError(
            'WRONG_KERNEL',
            `the host came back (boot ${id}) on another kernel than the one loaded: ${elsewhere}; the update did not happen (a failed boot fell back to the old kernel?)`,
          );
        if (v.cmdline !== undefined && !sameCmdline(cmdline, v.cmdline))
          throw new LiveupdateError(
            'WRONG_KERNEL',
            `the host came back (boot ${id}) with another command line than the one loaded: '${cmdline.trim()}', loaded '${v.cmdline}'`,
          );
        const missing = v.params.filter((p) => !words.includes(p));
        if (missing.length)
          throw new LiveupdateError(
            'STEP_FAILED',
            `the new kernel (boot ${id}) lacks ${missing.join(' ')} on its cmdline: the carve-out is not protected`,
          );
        return {
          bootId: id,
          previousBootId: before,
          waitedMs: Date.now() - t0,
          kernel: { ...running, proven: image ? 'the build of the image loaded' : 'not read from the image (not a bzImage)' },
        };
      }
      last = `still boot ${before}`;
      // the old kernel is on its way down: never reuse a connection to it
      env.host.reset?.();
    } catch (e) {
      if (e instanceof LiveupdateError && (e.code === 'STEP_FAILED' || e.code === 'WRONG_KERNEL')) throw e;
      last = e instanceof Error ? e.message : String(e);
      env.host.reset?.();
    }
    if (Date.now() - t0 > v.timeoutMs)
      throw new LiveupdateError('STEP_FAILED', `the host did not come back on a new boot within ${v.timeoutMs / 1000}s (last: ${last})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * A cpr-transfer's new QEMU: it opens its QMP socket once it has read the cpr state; the old one's
 * `completed` can come a moment before the new one has loaded everything. Paused (started with -S)
 * with the incoming migration completed, on the planned version and type: else it is quit here and
 * the run's abort continues the old QEMU.
 */
async function cprReceived(v: Extract<Verify, { kind: 'cpr-received' }>, env: RunEnv): Promise<Outcome> {
  const socket = fill(v.socket, env.vars);
  const deadline = Date.now() + v.timeoutMs;
  // its socket appears once it has read the cpr state, which the old QEMU's `completed` implies
  const connectBy = Math.min(deadline, Date.now() + 10_000);
  let c;
  for (;;) {
    c = await env.qmp.alive(socket);
    if (c || Date.now() > connectBy) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!c) throw new LiveupdateError('STEP_FAILED', `${v.vm}: its new QEMU does not answer on ${socket}; the old QEMU still has ${v.vm}`);
  let status = await statusOf(env, socket);
  while (status === 'inmigrate' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
    status = await statusOf(env, socket);
  }
  const incoming = await c
    .execute<{ status?: string }>('query-migrate', undefined, { timeoutMs: 5000 })
    .catch(() => ({ status: undefined }));
  const got = await qemuIdentity(c);
  const wrong =
    status !== 'paused' || incoming.status !== 'completed'
      ? `its new QEMU is ${status ?? 'not answering'} with the incoming migration ${incoming.status ?? 'unknown'} (expected paused, completed)`
      : v.version && got.version !== v.version
        ? `its new QEMU is ${got.version}, the plan hands it to ${v.version} (the binary changed since the plan)`
        : v.machine && got.machine !== v.machine
          ? `its new QEMU runs machine type ${got.machine}, the VM runs ${v.machine}`
          : undefined;
  if (wrong) {
    await c.execute('quit').catch(() => undefined);
    env.qmp.drop(socket);
    throw new LiveupdateError('STEP_FAILED', `${v.vm}: ${wrong}; the new QEMU was stopped and never ran ${v.vm}`);
  }
  return { ...got, status };
}

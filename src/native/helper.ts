/**
 * The native helper (native/helper/): the ioctls Node cannot issue. One JSON request in, one JSON
 * result out, run through the Host interface so the same static binary serves local and SSH hosts.
 * A program can end by holding its fds in a daemon (`then.hold`) that later requests reach over a
 * unix socket on the host, or by exec'ing a VMM that inherits them (`then.exec`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LiveupdateError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { HelperOp, HelperProgram } from '../plan/types.js';

export type { HelperOp, HelperProgram };

export type HelperErrorCode =
  'bad-request' | 'not-supported' | 'not-found' | 'permission' | 'busy' | 'invalid' | 'not-viable' | 'mismatch' | 'failed';

export interface HelperErrorInfo {
  op: string;
  index?: number;
  errno: number;
  errnoName: string;
  code: HelperErrorCode;
  message: string;
}

export interface HelperHandle {
  kind: 'fd' | 'buffer' | 'id';
  fd?: number;
  id?: number;
  size?: number;
  what: string;
}

export interface HelperResult {
  ok: boolean;
  results: Array<{ op: string; [k: string]: unknown }>;
  then?: { hold?: { pid: number; socket: string }; exec?: string[] };
  handles?: Record<string, HelperHandle>;
  error?: HelperErrorInfo;
}

/** A helper op failed: the helper's own words, errno and code kept for callers and tests. */
export class HelperError extends LiveupdateError {
  readonly helper: HelperErrorInfo;
  constructor(info: HelperErrorInfo, where: string) {
    super(info.code === 'not-supported' ? 'NOT_SUPPORTED' : 'HELPER_ERROR', `${where}: ${info.op}: ${info.message}`);
    this.helper = info;
  }
}

/** Where the orchestrator puts the static helper on a remote host. */
export const REMOTE_HELPER = '/var/lib/liveupdate/bin/lu-helper';

const NATIVE_DIR = fileURLToPath(new URL('../../native/', import.meta.url));

/** The helper built by `npm run build` (dist/native): dynamic for this machine, static for hosts. */
export function helperBinary(kind: 'dynamic' | 'static'): string {
  const path = `${NATIVE_DIR}${kind === 'static' ? 'lu-helper-static' : 'lu-helper'}`;
  if (!existsSync(path)) {
    throw new LiveupdateError('NOT_SUPPORTED', `the native helper is not built (${path} is missing)`, {
      hint: 'install a C compiler (apt-get install gcc libc6-dev make) and run npm run build',
    });
  }
  return path;
}

const installed = new WeakMap<Host, string>();

/** Where `ensureHelper` puts (or finds) the helper on `host`; nothing is checked there. */
export function helperPathFor(host: Host): string {
  // on a host the agent runs on, the static copy the control node installed there
  if (host.local) return host.helper ?? helperBinary('dynamic');
  return `${REMOTE_HELPER}-${createHash('sha256')
    .update(readFileSync(helperBinary('static')))
    .digest('hex')
    .slice(0, 16)}`;
}

/**
 * The helper's path on the host: this machine's build for a local host; for a remote one the static
 * build, copied once per content (a sha256 in the name, so an older copy is never run by mistake).
 * A remote copy runs as root only once its whole sha256 is this build's (checked on each connection,
 * before its first run there); otherwise it is uploaded again under a name of its own and renamed
 * into place, so two control nodes never write the same temporary file.
 */
export async function ensureHelper(host: Host): Promise<string> {
  const known = installed.get(host);
  if (known) return known;
  const path = helperPathFor(host);
  if (!host.local) {
    const bin = readFileSync(helperBinary('static'));
    const want = createHash('sha256').update(bin).digest('hex');
    const there = await host.exec(['sha256sum', path]);
    if (there.exitCode !== 0 || there.stdout.split(/\s/)[0] !== want) {
      const part = `${path}.part.${randomUUID()}`;
      await host.put(bin, part, 0o755);
      const mv = await host.exec(['mv', '-f', part, path]);
      if (mv.exitCode !== 0)
        throw new LiveupdateError('HOST_COMMAND_FAILED', `${host.name}: cannot install the helper at ${path}: ${mv.stderr.trim()}`);
    }
  }
  installed.set(host, path);
  return path;
}

/** Parses the helper's stdout; anything else (a crash, a shell error) is said plainly. */
export function parseHelperOutput(stdout: string, stderr: string, exitCode: number, where: string): HelperResult {
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  let doc: HelperResult | undefined;
  try {
    doc = line ? (JSON.parse(line) as HelperResult) : undefined;
  } catch {
    doc = undefined;
  }
  if (!doc || typeof doc.ok !== 'boolean') {
    throw new LiveupdateError(
      'HELPER_ERROR',
      `${where}: the helper gave no result (exit ${exitCode})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-2).join(' / ')}` : ''}`,
    );
  }
  return doc;
}

/**
 * Runs one request on the host: its result, and the process's own exit status and output (after a
 * `then.exec`, those are the exec'd program's, e.g. QEMU's).
 */
export async function execHelper(
  host: Host,
  request: HelperProgram | HelperOp,
  timeoutMs = 60_000,
  /** the helper's argv run by something that waits for it its own way (and its own bound) */
  wrap?: (argv: string[]) => { argv: string[]; timeoutMs: number },
): Promise<{ doc: HelperResult; exitCode: number; stderr: string }> {
  const path = await ensureHelper(host);
  const run = wrap ? wrap([path]) : { argv: [path], timeoutMs };
  const r = await host.exec(run.argv, { input: JSON.stringify(request), timeoutMs: run.timeoutMs });
  return { doc: parseHelperOutput(r.stdout, r.stderr, r.exitCode, host.name), exitCode: r.exitCode, stderr: r.stderr };
}

/** Runs one request on the host; a failed op throws HelperError unless `allowFailure`. */
export async function runHelper(
  host: Host,
  request: HelperProgram | HelperOp,
  opts: { allowFailure?: boolean; timeoutMs?: number } = {},
): Promise<HelperResult> {
  const { doc } = await execHelper(host, request, opts.timeoutMs);
  if (!doc.ok && !opts.allowFailure)
    throw new HelperError(
      doc.error ?? { op: 'request', errno: 0, errnoName: '', code: 'failed', message: 'failed without an error' },
      host.name,
    );
  return doc;
}

/** One request to a holder daemon (`then.hold`) over its unix socket on the host. */
export async function holderRequest(
  host: Host,
  socket: string,
  request: HelperOp,
  timeoutMs = 15_000,
): Promise<Record<string, unknown> & { ok: boolean; error?: HelperErrorInfo }> {
  const stream = await host.connectUnix(socket).catch((e: unknown) => {
    throw new LiveupdateError(
      'HELPER_ERROR',
      `${host.name}: no helper answers on ${socket}: ${e instanceof Error ? e.message : String(e)}`,
      {
        hint: 'the holder process exited (or was never started): the fds it kept are closed',
      },
    );
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      stream.destroy();
      reject(
        new LiveupdateError('HELPER_ERROR', `${host.name}: the helper on ${socket} did not answer ${request.op} within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    stream.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      // a clean end lets the far side (socat over SSH) exit and free its channel
      stream.end();
      setTimeout(() => stream.destroy(), 2000).unref();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown> & { ok: boolean });
      } catch {
        reject(new LiveupdateError('HELPER_ERROR', `${host.name}: the helper on ${socket} answered something that is not JSON`));
      }
    });
    stream.on('error', (e) => {
      clearTimeout(timer);
      reject(new LiveupdateError('HELPER_ERROR', `${host.name}: no helper answers on ${socket}: ${e.message.trim()}`));
    });
    stream.on('close', () => {
      clearTimeout(timer);
      if (!buf.includes('\n'))
        reject(
          new LiveupdateError(
            'HELPER_ERROR',
            `${host.name}: no helper answers on ${socket}: the connection closed without an answer to ${request.op}`,
          ),
        );
    });
    stream.write(JSON.stringify(request) + '\n');
  });
}

export interface ProbeResult {
  vfio: { present: boolean; apiVersion?: number; type1?: boolean; type1v2?: boolean; cdev: boolean; error?: string };
  groups: Array<{ group: number; devices: string[]; vfio: boolean; viable?: boolean; busy?: boolean }>;
  iommufd: { present: boolean };
  liveupdate: { present: boolean; busy?: boolean; heldBy?: string };
  /** supported, not-supported, not-permitted, unknown (not probed), or an errno name */
  kexec: { loaded?: boolean; fileLoad: string; fileLoadNote?: string };
}

/** What the host's kernel offers: VFIO, groups, iommufd, /dev/liveupdate, kexec_file_load. */
export async function probe(host: Host): Promise<ProbeResult> {
  const r = await runHelper(host, { op: 'probe' });
  return r.results[0] as unknown as ProbeResult;
}

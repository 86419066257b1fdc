import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { readFile, writeFile, mkdir, chmod } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import { debug } from '../debug.js';
import { LiveupdateError } from '../errors.js';
import { describeArgv, type ExecOptions, type ExecResult, type Host } from './host.js';

const done = (stdout: string): ExecResult => ({ stdout, stderr: '', exitCode: 0 });
const failed = (stderr: string): ExecResult => ({ stdout: '', stderr, exitCode: 1 });
const why = (e: unknown): string =>
  (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : ((e as NodeJS.ErrnoException).code ?? String(e));

function regularOrMissing(f: string): boolean {
  try {
    return statSync(f).isFile();
  } catch {
    return true; // cat says why it cannot read it, as the program would
  }
}

/**
 * The few argv forms the executor uses to look and to make a directory, done in this process with
 * the result the program would give (stdout, exit code): `test -e|-d|-f PATH`, `cat FILE...` (regular files),
 * `mkdir -p DIR...`, `readlink PATH`. Only these exact shapes; anything else (an option, another
 * form) goes to the program. Why: the agent runs them inside the blackout, where each process
 * start costs 100-400 ms on the lab's emulated CPU (measured) and a few ms on hardware.
 */
function builtin(argv: string[]): ExecResult | undefined {
  const [cmd, ...args] = argv;
  const plain = args.length > 0 && args.every((a) => a !== '' && !a.startsWith('-'));
  if (cmd === 'test' && args.length === 2 && ['-e', '-d', '-f'].includes(args[0]!)) {
    try {
      const st = statSync(args[1]!);
      return args[0] === '-d' && !st.isDirectory() ? failed('') : args[0] === '-f' && !st.isFile() ? failed('') : done('');
    } catch {
      return failed('');
    }
  }
  // regular files only (/proc and /sys files are): a FIFO or a device goes to the program
  if (cmd === 'cat' && plain && args.every(regularOrMissing)) {
    let out = '';
    for (const f of args) {
      try {
        out += readFileSync(f, 'utf8');
      } catch (e) {
        return { stdout: out, stderr: `cat: ${f}: ${why(e)}\n`, exitCode: 1 };
      }
    }
    return done(out);
  }
  if (cmd === 'mkdir' && args[0] === '-p' && args.length > 1 && args.slice(1).every((a) => a !== '' && !a.startsWith('-'))) {
    for (const d of args.slice(1)) {
      try {
        mkdirSync(d, { recursive: true });
      } catch (e) {
        return failed(`mkdir: cannot create directory '${d}': ${why(e)}\n`);
      }
    }
    return done('');
  }
  if (cmd === 'readlink' && plain && args.length === 1) {
    try {
      return done(`${readlinkSync(args[0]!)}\n`);
    } catch {
      return failed('');
    }
  }
  return undefined;
}

/** A process that is gone, or a zombie (it has let go of its files and mappings). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/**
 * This machine. argv goes straight to execve, no shell (but for the few forms `builtin` does
 * itself). Plain spawn rather than execa: commands run inside the VM blackout, and execa's extra
 * ~9 ms per spawn was measured there.
 */
export class LocalHost implements Host {
  readonly name = 'local';
  readonly local = true;

  /** `helper`: the installed helper on this host; the agent's wrapper names it in LIVEUPDATE_HELPER for the commands it runs */
  constructor(readonly helper: string | undefined = process.env['LIVEUPDATE_HELPER']) {}

  exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const [file, ...args] = argv;
    if (!file) return Promise.reject(new Error('exec: empty argv'));
    const inProcess = opts.input === undefined ? builtin(argv) : undefined;
    debug(1, () => `local: ${describeArgv(argv)}${inProcess ? ` (in this process: exit ${inProcess.exitCode})` : ''}`);
    if (inProcess) return Promise.resolve(inProcess);
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const timer = opts.timeoutMs ? setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), opts.timeoutMs) : undefined;
      child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (err.code === 'ENOENT') resolve({ stdout: '', stderr: `${file}: command not found`, exitCode: 127 });
        else reject(new LiveupdateError('HOST_COMMAND_FAILED', `${file}: ${err.message}`, { cause: err }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        debug(1, () => `local: ${file} ${timedOut ? 'timed out' : `exited ${code ?? signal}`} after ${Date.now() - t0} ms`);
        if (timedOut) reject(new LiveupdateError('HOST_COMMAND_FAILED', `${file} timed out after ${opts.timeoutMs} ms`));
        else resolve({ stdout, stderr, exitCode: code ?? (signal ? 128 : 1) });
      });
      if (opts.input !== undefined) child.stdin!.end(opts.input);
    });
  }

  connectUnix(path: string): Promise<Duplex> {
    debug(1, () => `local: connecting to the unix socket ${path}`);
    return new Promise((resolve, reject) => {
      const sock = createConnection(path);
      sock.once('connect', () => resolve(sock));
      sock.once('error', reject);
    });
  }

  async put(content: string | Buffer, remotePath: string, mode?: number): Promise<void> {
    await mkdir(dirname(remotePath), { recursive: true });
    await writeFile(remotePath, content);
    if (mode !== undefined) await chmod(remotePath, mode);
  }

  async fetch(remotePath: string): Promise<Buffer> {
    return readFile(remotePath);
  }

  async waitGone(pid: number, timeoutMs: number): Promise<boolean> {
    for (const t0 = Date.now(); !gone(pid);) {
      if (Date.now() - t0 > timeoutMs) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  async close(): Promise<void> {}
}

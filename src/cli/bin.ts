/**
 * The CLI as a process: `liveupdate ARGS`. Bundled twice by scripts/bundle.sh: for this machine
 * (dist/bundles/cli/liveupdate.cjs, each command initialised when it runs; bin/liveupdate.js) and for
 * hosts (dist/agent/liveupdate.mjs, one file with no node_modules: `liveupdate run --agent` there).
 */
import { makeReporter } from '../report/style.js';
import { interrupt } from './interrupt.js';
import { run } from './main.js';

/**
 * Resolves once everything written to `stream` so far is handed to the OS: a pipe's writes are
 * asynchronous, and exiting before they drain cuts the output at a 64 KiB boundary with exit 0.
 * A reader that went away (EPIPE) ends the wait too.
 */
const drained = (stream: NodeJS.WriteStream): Promise<void> => new Promise((resolve) => stream.write('', () => resolve()));

// a reader that went away (`liveupdate plan | head`) takes the rest of the output with it, never the
// command: a run goes on to its end (a VM is never left paused because nobody reads any more)
const readerGone = (e: NodeJS.ErrnoException): void => {
  if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
};
process.stdout.on('error', readerGone);
process.stderr.on('error', readerGone);
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);
run(process.argv.slice(2)).then(
  async (code) => {
    // the command is done: its output drains, then the process exits (a socket to a host that
    // rebooted under us must not keep the CLI alive)
    await Promise.all([drained(process.stdout), drained(process.stderr)]);
    process.exit(code);
  },
  (err: unknown) => {
    process.exitCode = makeReporter('plain').error(err);
  },
);

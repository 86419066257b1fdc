/**
 * The CLI as a process: `liveupdate ARGS`. Bundled twice by scripts/bundle.sh: for this machine
 * (dist/bundles/cli/liveupdate.cjs, each command initialised when it runs; bin/liveupdate.js) and for
 * hosts (dist/agent/liveupdate.mjs, one file with no node_modules: `liveupdate run --agent` there).
 */
import { makeReporter } from '../report/style.js';
import { interrupt } from './interrupt.js';
import { run } from './main.js';

process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);
run(process.argv.slice(2)).then(
  (code) => {
    // the command is done: a socket to a host that rebooted under us must not keep the CLI alive
    process.exit(code);
  },
  (err: unknown) => {
    process.exitCode = makeReporter('plain').error(err);
  },
);

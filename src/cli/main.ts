import { Command, CommanderError } from 'commander';
import { EXIT, LiveupdateError } from '../errors.js';
import { registerFacts } from './commands/facts.js';
import { registerPlan } from './commands/plan.js';
import { registerValidate } from './commands/validate.js';
import { registerExecute } from './commands/execute.js';
import { registerDemo } from './commands/demo.js';
import { registerFleet } from './commands/fleet.js';
import { interrupt } from './interrupt.js';
import { makeReporter, styleFor, type Reporter } from '../report/reporter.js';

/** Builds the program; `run` is the one place errors become exit codes. */
export async function run(argv: string[], io: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream } = {}): Promise<number> {
  const json = argv.includes('--json');
  // the one reporter of this run, chosen before anything is read
  const output: Reporter = makeReporter(styleFor(json, io.stderr ?? process.stderr), io.stdout, io.stderr);
  let exitCode: number = EXIT.ok;
  const program = new Command()
    .name('liveupdate')
    .description('Hypervisor live update: keep guest RAM in place, kexec the host kernel, resume the VMs where they were.')
    .version('0.1.0')
    .option('--json', 'machine-readable output (a JSON document, or NDJSON events with a format line first)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => (io.stdout ?? process.stdout).write(s),
      writeErr: (s) => (json ? undefined : (io.stderr ?? process.stderr).write(s)),
    })
    .showHelpAfterError('(run liveupdate --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 done (plan --detailed-exitcode: nothing to do), 1 error (nothing further was changed;
the journal says what was), 2 steps pending (plan --detailed-exitcode), 64 usage, 70 a bug in liveupdate.

Start with: liveupdate demo                 (as root: a real live update in a lab VM, a few minutes)
       or: liveupdate plan --profile profiles/seed-pkernfs.yaml --facts profiles/facts/seed-host.json`,
    );
  const out = (): Reporter => output;
  registerValidate(program, out);
  registerFacts(program, out);
  registerPlan(program, out, (c) => (exitCode = c));
  registerExecute(program, out, (c) => (exitCode = c));
  registerDemo(program, out, (c) => (exitCode = c));
  registerFleet(program, out, (c) => (exitCode = c));
  for (const c of program.commands) c.option('--json', 'machine-readable output').exitOverride();

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      if (json) output.error(new LiveupdateError('USAGE', err.message.replace(/^error: /, '')));
      return EXIT.usage;
    }
    return output.error(err);
  }
}

const isMain = process.argv[1] !== undefined && /liveupdate(\.js)?$|cli\/main\.js$/.test(process.argv[1]);
if (isMain) {
  process.on('SIGINT', interrupt);
  run(process.argv.slice(2)).then(
    (code) => {
      // the command is done: a socket to a host that rebooted under us must not keep the CLI alive
      process.exit(code);
    },
    (err: unknown) => {
      process.exitCode = makeReporter('plain').error(err);
    },
  );
}

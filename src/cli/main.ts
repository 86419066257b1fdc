import { Command, CommanderError } from 'commander';
import { EXIT, LiveupdateError } from '../errors.js';
import { declareCommands } from './program.js';
import type { Reporter } from '../report/reporter.js';
import { makeReporter, styleFor } from '../report/style.js';

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
  declareCommands(program, { out: output, setExit: (c) => (exitCode = c) });
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

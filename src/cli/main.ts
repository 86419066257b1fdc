import { Command, CommanderError } from 'commander';
import { EXIT, LiveupdateError } from '../errors.js';
import { setDebug, verbosity } from '../debug.js';
import { visible } from '../report/visible.js';
import { declareCommands } from './program.js';
import { closest } from '../suggest.js';
import type { Reporter } from '../report/reporter.js';
import { makeReporter, styleFor } from '../report/style.js';

/**
 * The first `--flag` in `argv` that the command it is given to does not have (nor its parents),
 * with the message commander gives for one; undefined when every flag is known. Words after `--`,
 * and the value of a flag that takes one, are not flags.
 */
function unknownFlag(program: Command, argv: string[]): { cmd: Command; message: string } | undefined {
  let cmd = program;
  const chain = (): Command[] => {
    const out: Command[] = [];
    for (let c: Command | null = cmd; c; c = c.parent) out.push(c);
    return out;
  };
  const optionOf = (flag: string) =>
    chain()
      .flatMap((c) => c.options)
      .find((o) => o.long === flag || o.short === flag);
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === '--') return undefined;
    if (!w.startsWith('-') || w === '-') {
      const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
      if (sub) cmd = sub;
      continue;
    }
    const flag = w.includes('=') ? w.slice(0, w.indexOf('=')) : w;
    if (!flag.startsWith('--')) {
      const o = optionOf(flag);
      if (o && (o.required || o.optional) && flag === w) i++;
      continue;
    }
    if (flag === '--help' || flag === '--version') continue;
    const o = optionOf(flag);
    if (o) {
      if (o.required && flag === w) i++;
      continue;
    }
    const known = [
      ...new Set(
        chain()
          .flatMap((c) => c.options.map((x) => x.long))
          .filter((x): x is string => !!x),
      ),
    ];
    const meant = closest(flag, known);
    return { cmd, message: `error: unknown option '${flag}'${meant ? `\n(Did you mean ${meant}?)` : ''}` };
  }
  return undefined;
}

/** Builds the program; `run` is the one place errors become exit codes. */
export async function run(argv: string[], io: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream } = {}): Promise<number> {
  const json = argv.includes('--json');
  // --no-color is NO_COLOR=1 (no-color.org) for this run: the reporters and listr2 read that
  if (argv.includes('--no-color')) process.env['NO_COLOR'] = '1';
  // -v, -vv: debug lines on stderr, their controls shown escaped (as everything printed for people)
  const err = io.stderr ?? process.stderr;
  setDebug(verbosity(argv), (line) => err.write(`${visible(line)}\n`));
  // the one reporter of this run, chosen before anything is read
  const output: Reporter = makeReporter(styleFor(json, io.stderr ?? process.stderr), io.stdout, io.stderr);
  let exitCode: number = EXIT.ok;
  const program = new Command()
    .name('liveupdate')
    .description('Hypervisor live update: keep guest RAM in place, kexec the host kernel, resume the VMs where they were.')
    .version('0.1.0')
    .option('--json', 'machine-readable output (a JSON document, or NDJSON events with a format line first)')
    .option('--no-color', 'no colour in what it prints (as NO_COLOR=1; no colour either when not on a terminal)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => (io.stdout ?? process.stdout).write(s),
      writeErr: (s) => (json ? undefined : (io.stderr ?? process.stderr).write(s)),
    })
    .showHelpAfterError('(run liveupdate --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes, one meaning each:
  0    done (plan --detailed-exitcode: nothing to do)
  1    an error, and nothing was changed (bad input, a rule the host fails, a refusal)
  2    steps that change the host are pending (plan --detailed-exitcode)
  3    a run changed the host and stopped on a failure; its state is kept: liveupdate status says what next
  4    stopped following the host's agent, which goes on: liveupdate status --follow
  64   usage   70  a bug in liveupdate   130  interrupted

Start with: liveupdate demo                 (as root: a real live update in a lab VM, a few minutes)
       or: liveupdate plan --profile profiles/seed-pkernfs.yaml --facts profiles/facts/seed-host.json`,
    );
  declareCommands(program, { out: output, setExit: (c) => (exitCode = c) });
  for (const c of program.commands)
    c.option('--json', 'machine-readable output').option('--no-color', 'no colour (as NO_COLOR=1)').exitOverride();
  // -v on every command, however deep (read from argv above; declared here so that it is known)
  const verbose = (c: Command): void => {
    c.option(
      '-v, --verbose',
      "say more on stderr: every command run on a host and how it ended, each connection; -vv: also the SSH transport's debug",
      (_v: string, n: number) => n + 1,
      0,
    );
    c.commands.forEach(verbose);
  };
  program.commands.forEach(verbose);

  try {
    // a mistyped flag is said first, with what it most likely meant: commander would first say that a
    // required flag is missing (`--profle x` -> "required option '--profile' not specified"), hiding the typo
    const typo = unknownFlag(program, argv);
    if (typo) typo.cmd.error(typo.message, { code: 'commander.unknownOption', exitCode: EXIT.usage });
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

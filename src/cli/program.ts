/**
 * The CLI's whole surface: every command, flag and help text, and nothing else. A command's code
 * (src/cli/commands/) loads when that command runs, so `--version`, `--help` and a usage error load
 * none of it: no ssh2, listr2, YAML parser or planner before they are needed (bench:cli).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { expandHome } from '../input/path.js';
import { AGENT_DIR } from '../agent/request.js';
import { DEFAULT_FLEET_DIR, DEFAULT_FORKS, DEMO_BACKENDS, DEMO_PORT, REMOTE_JOURNAL_DIR } from '../defaults.js';
import type { ProfileImportOpts } from './commands/profile.js';
import type { DemoOpts } from './commands/demo.js';
import type { FactsOpts } from './commands/facts.js';
import type { FleetOpts, FleetRunOpts, FleetStatusOpts } from './commands/fleet.js';
import type { HostCommandOpts, PhaseOpts, StatusOpts } from './commands/execute.js';
import type { PlanOpts } from './commands/plan.js';
import { PATH_VALUE, PHASE_CHOICES, type CommandContext } from './context.js';

const SSH_CONFIG = '-F, --ssh-config <file>';
const SSH_CONFIG_HELP =
  'ssh_config to read instead of ~/.ssh/config and /etc/ssh/ssh_config (Host/Match: HostName, User, Port, IdentityFile, ProxyJump, known hosts files, ...)';

/** Flags with a fixed set of values: completion offers them, and the command checks a value against them (saying which they are). */
const CHOICES: Record<string, string[]> = {
  '--phase': PHASE_CHOICES,
  '--via': ['agent', 'ssh'],
  '--backend': [...DEMO_BACKENDS],
};

/** `--agent`, still read: the older spelling of `--via agent`, out of --help */
const olderAgentFlag = (): Option => new Option('--agent', 'the older spelling of --via agent').hideHelp();

const BECOME = '--become';
const BECOME_HELP = 'the login user is not root: run every command on the host through sudo -n (a NOPASSWD sudoers rule)';

/** Which host, and how to reach it over SSH. */
function withSshOptions(c: Command): Command {
  return c
    .option('--host <target>', '[user@]addr[:port] or a Host of ssh_config; default: this machine')
    .option('--identity <file>', 'SSH private key (default ~/.ssh/id_ed25519, id_ecdsa, id_rsa; ssh-agent is used too)')
    .option('--known-hosts <file>', 'known_hosts to verify the host key against (default ~/.ssh/known_hosts)')
    .option('--accept-new-host-key', 'trust and record an unknown host key (a changed key is always refused)')
    .option(SSH_CONFIG, SSH_CONFIG_HELP)
    .option('-J, --jump <hops>', 'ProxyJump hops, [user@]host[:port],... (as ssh -J; before ssh_config, so it wins)')
    .option(
      '-o, --option <setting...>',
      'an ssh_config setting, Keyword=value (as ssh -o; repeatable; before the files, so it wins; one liveupdate does not honour is refused)',
    )
    .option(BECOME, BECOME_HELP);
}

function withHostOptions(c: Command, profile: 'required' | 'or-plan' = 'required'): Command {
  const p =
    profile === 'required'
      ? c.requiredOption('--profile <file>', 'host profile YAML')
      : c.option('--profile <file>', 'host profile YAML (with --plan: the one the plan was made from)');
  return withSshOptions(p).option(
    '--journal-dir <dir>',
    `journal directory (default: the profile's journal.dir for this machine, ${REMOTE_JOURNAL_DIR} for remote hosts)`,
  );
}

/**
 * Every value a flag or argument takes: never empty (an empty --host would mean this machine, an
 * empty --facts this machine's probe, an empty --journal-dir the current folder: an empty word
 * means a mistake, not a default), and `~/...` expanded in paths, as a shell would have done had
 * the word not been quoted or after `=`.
 */
function valueParsers(c: Command): void {
  const parse =
    (path: boolean, variadic: boolean) =>
    (v: string, previous: unknown): unknown => {
      if (v.trim() === '') throw new InvalidArgumentError('it is empty: give a value, or leave the option out');
      const value = path ? expandHome(v) : v;
      return variadic ? [...(Array.isArray(previous) ? (previous as unknown[]) : []), value] : value;
    };
  // (a flag with choices is checked against them by its command, which names them)
  for (const o of c.options)
    if ((o.required || o.optional) && !(o.long && o.long in CHOICES)) o.argParser(parse(PATH_VALUE.test(o.flags), o.variadic));
  for (const a of c.registeredArguments) a.argParser(parse(PATH_VALUE.test(`<${a.name()}>`), a.variadic));
  c.commands.forEach(valueParsers);
}

/** Every command and flag, in the order --help and completion show them. */
export function declareCommands(program: Command, ctx: CommandContext): void {
  declareLookCommands(program, ctx);
  declareRunCommands(program, ctx);
  declareDemo(program, ctx);
  declareFleet(program, ctx);
  declareCompletion(program, ctx);
  valueParsers(program);
}

/** validate, facts, plan: they read and show, and change nothing. */
function declareLookCommands(program: Command, ctx: CommandContext): void {
  program
    .command('validate')
    .description('check a host profile against the schema and the cross-field rules (no host is touched)')
    .argument('<profile>', 'host profile YAML')
    .action(async (file: string) => (await import('./commands/validate.js')).validate(file, ctx));

  program
    .command('show')
    .description(
      'print a saved plan (liveupdate plan --out FILE) as plan printed it, with what it was made from and the command that runs it; changes nothing',
    )
    .argument('<planfile>', 'a saved plan')
    .action(async (file: string) => (await import('./commands/plan.js')).show(file, ctx));

  withSshOptions(
    program
      .command('facts')
      .description('probe a host read-only and print what liveupdate plans from (save with --json, replay with --facts)')
      .option('--profile <file>', 'also probe the QEMU binaries and kexec files this profile names'),
  )
    .option('--facts <file>', 'print a saved facts file instead of probing')
    .action(async (opts: FactsOpts) => (await import('./commands/facts.js')).facts(opts, ctx));

  withSshOptions(
    program
      .command('plan')
      .description('show every command, file, ioctl and QMP message a live update would issue; changes nothing')
      .requiredOption('--profile <file>', 'host profile YAML')
      .option('--facts <file>', 'plan from saved facts (liveupdate facts --json) instead of probing this host'),
  )
    .option(
      '--vmm-only',
      'update the VMMs on the running kernel instead of a kexec (cpr-transfer where it can, else stop, save and restart)',
    )
    .option(
      '--phase <phase>',
      `one of ${PHASE_CHOICES.join(', ')} (update: suspend, kexec and resume, as run --phase update runs them)`,
      'all',
    )
    .option('--allow-other-host', "plan even when the facts' hostname differs from the profile's host.name")
    .option('--detailed-exitcode', 'exit 0 when nothing is left to do, 2 when steps are pending, 1 on error')
    .option('--force', 'plan the update even when the host runs its kernel (or its QEMUs) already')
    .option(
      '--out <file>',
      "also save the plan to run later exactly as shown (liveupdate run --plan FILE), bound to this profile and the host's boot and facts",
    )
    .action(async (opts: PlanOpts) => (await import('./commands/plan.js')).plan(opts, ctx));
}

/** The phase commands, abort, status and host install|uninstall: one host's update and its journal. */
function declareRunCommands(program: Command, ctx: CommandContext): void {
  const phaseCommands: Array<[string, string]> = [
    ['prepare', 'carve-out check, persistent storage mounted, guest RAM files, VMs started on them'],
    ['suspend', 'stage the new kernel, then pause every VM and save its device state'],
    ['kexec', 'jump into the staged kernel and prove the new boot'],
    ['resume', 'remount, restore every VM from its state, continue it'],
    ['run', 'prepare, suspend, kexec and resume in one go'],
  ];
  for (const [name, what] of phaseCommands) {
    const c = withHostOptions(program.command(name).description(`${what} (journaled; re-run to continue after a failure)`), 'or-plan')
      .option(
        '--plan <file>',
        `run exactly this saved plan (liveupdate plan${name === 'run' ? '' : ` --phase ${name}`} --out FILE); refused if the profile, the host's boot or its facts changed since`,
      )
      .addOption(
        ['kexec', 'run'].includes(name)
          ? new Option('--yes', 'do not ask before passing the point of no return (the kexec); needed without a terminal')
          : // still read: this phase passes no point of no return, so it never asks
            new Option('--yes', 'accepted; this phase never asks').hideHelp(),
      )
      .option('--facts <file>', 'plan from saved facts instead of probing (they must be of the current boot)')
      .option('--dry-run', 'print the plan and change nothing')
      .option(
        '--vmm-only',
        'update the VMMs on the running kernel instead of a kexec (cpr-transfer where it can, else stop, save and restart)',
      )
      .option('--allow-other-host', "run even when the facts' hostname differs from the profile's host.name")
      .option(
        '--via <who>',
        'agent (the default with --host: the on-host agent runs the plan and, at boot, the resume, without this control node; this command follows its journal, Ctrl-C detaches; on this machine: the agent runs it, so that the resume after the kexec runs at boot) or ssh (with --host: this control node drives each step over SSH)',
      )
      .option(
        '--no-install',
        "never put anything on the host: the agent must be there already, this build's (liveupdate host install --dry-run says what it would copy); --via ssh needs only the helper",
      )
      .addOption(olderAgentFlag());
    if (name === 'resume') c.option('--mark-done <step...>', 'record steps as done after checking the host by hand');
    if (name === 'run')
      c.option(
        '--force',
        'update even when the host runs the kernel (or the QEMUs) the update would bring: by default that is nothing to do, exit 0',
      )
        .option(
          '--phase <which>',
          "all (prepare, suspend, kexec, resume) or update (suspend, kexec, resume: the host was prepared before, as a fleet's rollout phases: update)",
          'all',
        )
        .addOption(new Option('--phases <which>', 'the older spelling of --phase').hideHelp());
    c.action(async (opts: PhaseOpts) => (await import('./commands/execute.js')).phase(name, opts, ctx));
  }

  withHostOptions(
    program
      .command('abort')
      .description('before the point of no return: resume every VM on the running kernel and unload the staged kernel'),
  )
    .option('--facts <file>', 'plan from saved facts instead of probing')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--vmm-only', 'the run being aborted was --vmm-only')
    .option(
      '--via <who>',
      "with --host: agent (the default: the run being aborted is the on-host agent's, and the host runs the abort plan itself) or ssh (a run this control node drove step by step)",
    )
    .addOption(olderAgentFlag())
    .action(async (opts: PhaseOpts & { profile: string }) => (await import('./commands/execute.js')).abort(opts, ctx));

  const statusCmd = program
    .command('status')
    .description(
      "what the journal says: the current or last run, each step, each VM's blackout (with --host: the host's own journal, from any control node)",
    )
    .requiredOption('--profile <file>', 'host profile YAML');
  withSshOptions(statusCmd)
    .option('--journal-dir <dir>', 'journal directory (of a run this control node drove over SSH)')
    .option('--follow', "follow the agent's run on the host until it ends (Ctrl-C stops following, never the run)")
    .action(async (opts: StatusOpts) => (await import('./commands/execute.js')).status(opts, ctx));

  const hostCmd = program.command('host').description('what liveupdate keeps on a host');
  withSshOptions(
    hostCmd
      .command('install')
      .description(
        `put the on-host agent there (${AGENT_DIR}: a Node runtime, the agent and the CLI as one file each, the static helper; on systemd hosts the boot-time unit, enabled); the --agent commands do this themselves`,
      ),
  )
    .option('--dry-run', 'say what would be copied (each file, its size) and what is there already; change nothing')
    .action(async (opts: HostCommandOpts & { dryRun?: boolean }) => (await import('./commands/execute.js')).hostInstall(opts, ctx));
  withSshOptions(
    hostCmd
      .command('uninstall')
      .description(
        `remove what liveupdate installed there (the agent in ${AGENT_DIR}, the helper, the boot-time unit) and say what is left; refused while a run is unfinished`,
      )
      .requiredOption('--profile <file>', 'host profile YAML'),
  )
    .option('--purge', "also remove the profile's journal (the record of its runs) and liveupdate's folders")
    .action(async (opts: HostCommandOpts & { profile: string; purge?: boolean }) =>
      (await import('./commands/execute.js')).hostUninstall(opts, ctx),
    );
}

function declareDemo(program: Command, ctx: CommandContext): void {
  program
    .command('demo')
    .description(
      'a real live update in a lab VM: boots a lab host under QEMU, runs a guest, replaces the host kernel under it (the on-host agent runs the update and resumes the guest at boot), shows the guest kept its memory (needs root; first run builds the lab image, a few minutes)',
    )
    .option(
      '--backend <name>',
      'pmem (Debian 12 kernel, guest RAM in legacy pmem), luo (Linux 7.2 built once, ~12 min; guest RAM in a preserved memfd) or pkernfs (the 2024 pkernfs RFC on 6.1, built once, ~5 min; guest RAM in pkernfs files)',
      'pmem',
    )
    .option('--keep', 'leave the lab host running afterwards, with the SSH command to log in')
    .option('--port <n>', "loopback port for the lab host's SSH", String(DEMO_PORT))
    .option('--count <seconds>', 'how long the guest counts before the update', '10')
    .action(async (opts: DemoOpts) => (await import('./commands/demo.js')).demo(opts, ctx));
}

/** fleet plan|run|status: many hosts over SSH. */
function declareFleet(program: Command, ctx: CommandContext): void {
  const profileCmd = program.command('profile').description('write a starting profile from what a host runs');
  withSshOptions(
    profileCmd
      .command('import')
      .description("a profile for the domains libvirt runs now on a host (read only; each domain's readiness in comments)")
      .option('--libvirt [uri]', 'from libvirt on this connection (default qemu:///system)')
      .option('--out <file>', 'write the profile there instead of to stdout'),
  )
    .option('--json', 'machine-readable output')
    .action(async (opts: ProfileImportOpts) => (await import('./commands/profile.js')).profileImport(opts, ctx));

  const fleet = program.command('fleet').description('many hosts over SSH: plan, run in rolling batches with a failure budget, status');
  const common = (c: Command): Command =>
    c
      .requiredOption('--inventory <file>', 'inventory YAML (hosts, groups, labels, rollout)')
      .option(
        '--limit <expr>',
        "hosts to include: names (globs), groups, label=value; ',' or ':' between terms, !term excludes, &term intersects",
      )
      .option('--fleet-dir <dir>', 'where fleet runs keep their journals and reports', DEFAULT_FLEET_DIR)
      .option('--json', 'machine-readable output')
      .option(SSH_CONFIG, `${SSH_CONFIG_HELP} (for every host)`)
      .option('-J, --jump <hops>', 'ProxyJump hops for every host, [user@]host[:port],... (as ssh -J; before ssh_config, so it wins)')
      .option(
        '-o, --option <setting...>',
        'an ssh_config setting for every host, Keyword=value (as ssh -o; repeatable; before the files, so it wins; one liveupdate does not honour is refused)',
      );
  // how many hosts are probed at once when planning (a run's parallelism is the inventory's rollout.concurrency)
  const forks = '--forks <n>';
  common(fleet.command('plan').description("gather every host's facts and make its plan; show the batches; nothing changes"))
    .option(forks, 'hosts probed at once', String(DEFAULT_FORKS))
    .action(async (opts: FleetOpts) => (await import('./commands/fleet.js')).fleetPlan(opts, ctx));
  common(
    fleet
      .command('run')
      .description('update the hosts in rolling batches (each as `liveupdate run --host`); stops when a batch exceeds maxFailPercentage'),
  )
    .option('--dry-run', 'plan every host and show the batches, as `fleet plan` does; nothing changes')
    .option(forks, `with --dry-run: hosts probed at once (default ${DEFAULT_FORKS})`)
    .option('--yes', 'do not ask before the hosts pass their point of no return (the kexec); needed without a terminal')
    .option(
      '--resume <id>',
      'finish an earlier fleet run: hosts that finished are skipped, hosts that stopped mid-way resume from their own journal',
    )
    .option('--report <file>', 'also write the JSON report here')
    .option('--force', 'update every host, also those that run the kernel (or the QEMUs) the update would bring (by default skipped)')
    .option(
      '--via <who>',
      'agent (the default: each host runs its plan itself with the on-host agent, as `liveupdate run --host` does; the resume after its kexec needs no control node) or ssh (this control node drives each step over SSH)',
      'agent',
    )
    .addOption(olderAgentFlag())
    .action(async (opts: FleetRunOpts) => (await import('./commands/fleet.js')).fleetRun(opts, ctx));
  fleet
    .command('status')
    .description("a fleet run's account from its journal: each host's state, the batches, why it stopped")
    .requiredOption('--inventory <file>', 'inventory YAML')
    .option('--run <id>', 'the run (default: the latest)')
    .option('--fleet-dir <dir>', 'where fleet runs keep their journals', DEFAULT_FLEET_DIR)
    .option('--json', 'machine-readable output')
    .action(async (opts: FleetStatusOpts) => (await import('./commands/fleet.js')).fleetStatus(opts, ctx));
}

function declareCompletion(program: Command, ctx: CommandContext): void {
  program
    .command('completion')
    .description('print a completion script for bash or zsh, made from these commands and flags: eval "$(liveupdate completion bash)"')
    .argument('<shell>', 'bash or zsh')
    .action(async (shell: string) => (await import('./completion.js')).completion(program, shell, CHOICES, ctx));
}

/** `liveupdate demo`: flags, then the demo (src/app/demo.ts) in the run's reporter, then its account (src/report/demo-text.ts). */
import type { Command } from 'commander';
import { EXIT, LiveupdateError } from '../../errors.js';
import { DEMO_PORT, runDemo } from '../../app/demo.js';
import { renderDemo } from '../../report/demo-text.js';
import type { Reporter } from '../../report/reporter.js';
import { cliListener } from '../listener.js';

interface DemoOpts {
  backend: string;
  keep?: boolean;
  port: string;
  count: string;
}

export function registerDemo(program: Command, out: () => Reporter, setExit: (c: number) => void): void {
  program
    .command('demo')
    .description('a real live update in a lab VM: boots a lab host under QEMU, runs a guest, replaces the host kernel under it (the on-host agent runs the update and resumes the guest at boot), shows the guest kept its memory (needs root; first run builds the lab image, a few minutes)')
    .option('--backend <name>', 'pmem (Debian 12 kernel, guest RAM in legacy pmem) or luo (Linux 7.2 built once, ~12 min; guest RAM in a preserved memfd)', 'pmem')
    .option('--keep', 'leave the lab host running afterwards, with the SSH command to log in')
    .option('--port <n>', "loopback port for the lab host's SSH", String(DEMO_PORT))
    .option('--count <seconds>', 'how long the guest counts before the update', '10')
    .action(async (opts: DemoOpts) => {
      const o = out();
      if (opts.backend !== 'pmem' && opts.backend !== 'luo') throw new LiveupdateError('USAGE', `--backend ${opts.backend}: expected pmem or luo`);
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LiveupdateError('USAGE', `--port ${opts.port}: expected a TCP port number`);
      const count = Number(opts.count);
      if (!Number.isFinite(count) || count < 1 || count > 600) throw new LiveupdateError('USAGE', `--count ${opts.count}: expected seconds between 1 and 600`);
      const demo = await runDemo(
        { backend: opts.backend, keep: opts.keep === true, port, count },
        // the demo's stages in the run's style; each command's steps as lines under its stage (NDJSON with --json)
        { stages: o.stages(), listener: (log) => cliListener(o, (plan) => o.steps(plan, log)) },
      );
      o.result(renderDemo(demo), demo);
      if (!demo.ok) setExit(EXIT.error);
    });
}

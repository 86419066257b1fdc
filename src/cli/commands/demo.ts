/** `liveupdate demo`: flags, then the demo (src/app/demo.ts) in the run's reporter, then its account (src/report/demo-text.ts). */
import { DEMO_BACKENDS } from '../../defaults.js';
import { EXIT, LiveupdateError } from '../../errors.js';
import { runDemo } from '../../app/demo.js';
import { renderDemo } from '../../report/demo-text.js';
import { runView } from '../../report/views/run.js';
import { cliListener } from '../listener.js';
import type { CommandContext } from '../context.js';

export interface DemoOpts {
  backend: string;
  keep?: boolean;
  port: string;
  count: string;
}

export async function demo(opts: DemoOpts, { out, setExit }: CommandContext): Promise<void> {
  const backend = DEMO_BACKENDS.find((b) => b === opts.backend);
  if (!backend)
    throw new LiveupdateError(
      'USAGE',
      `--backend ${opts.backend}: expected ${DEMO_BACKENDS.slice(0, -1).join(', ')} or ${DEMO_BACKENDS.at(-1)}`,
    );
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new LiveupdateError('USAGE', `--port ${opts.port}: expected a TCP port number`);
  const count = Number(opts.count);
  if (!Number.isFinite(count) || count < 1 || count > 600)
    throw new LiveupdateError('USAGE', `--count ${opts.count}: expected seconds between 1 and 600`);
  const result = await runDemo(
    { backend, keep: opts.keep === true, port, count },
    // the demo's stages in the run's style; each command's steps as lines under its stage (NDJSON with --json)
    { stages: out.stages(), listener: (log) => cliListener((d) => out.warn(d), runView(out, log)) },
  );
  out.result(renderDemo(result), result);
  if (!result.ok) setExit(EXIT.error);
}

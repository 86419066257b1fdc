/** Which reporter a run gets: its style from --json and the terminal, then that style's implementation. */
import { humanReporter } from './human.js';
import { jsonReporter } from './json.js';
import type { Reporter, Style } from './reporter.js';

/** The style for this run: --json wins; listr2 only on a terminal outside CI. */
export function styleFor(json: boolean, stderr: NodeJS.WritableStream = process.stderr, env: NodeJS.ProcessEnv = process.env): Style {
  if (json) return 'json';
  return (stderr as { isTTY?: boolean }).isTTY === true && !env['CI'] ? 'tty' : 'plain';
}

export function makeReporter(
  style: Style,
  stdout: NodeJS.WritableStream = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
): Reporter {
  return style === 'json' ? jsonReporter(stdout) : humanReporter(style === 'tty', stdout, stderr);
}

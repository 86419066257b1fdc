/**
 * Asking before the point of no return, as `terraform apply` asks: on a terminal the operator types
 * `yes`; `--yes` is the answer for scripts; with no terminal to ask on and no `--yes`, refused.
 * Nothing has changed on any host when this is asked.
 */
import { createInterface } from 'node:readline/promises';
import { LiveupdateError } from '../errors.js';
import type { Reporter } from '../report/reporter.js';

export async function confirmOrRefuse(out: Reporter, yes: boolean | undefined, what: string, review: string): Promise<void> {
  if (yes) return;
  if (!out.interactive || !process.stdin.isTTY || !process.stderr.isTTY) {
    throw new LiveupdateError('USAGE', `${what}; no terminal to confirm on: pass --yes to go on; nothing was done`, { hint: review });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${what}.\n${review}\nOnly 'yes' goes on: `);
    if (answer.trim() !== 'yes')
      throw new LiveupdateError('NOT_CONFIRMED', `not confirmed ('${answer.trim().slice(0, 40)}'); nothing was done`);
  } finally {
    rl.close();
  }
}

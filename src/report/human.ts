/** The reporter for people: results as text on stdout, progress, warnings and errors on stderr. */
import { EXIT, exitFor, formatDiagnostic, LiveupdateError } from '../errors.js';
import { plainLine } from '../step-line.js';
import type { Reporter } from './reporter.js';
import { plainStages, ttyStages } from './stages.js';
import { withHeartbeat } from './heartbeat.js';
import { ttyReporter } from './tty.js';
import { visible } from './visible.js';

/** `tty`: listr2 views of steps and stages (a terminal outside CI); otherwise a plain line per step. */
export function humanReporter(tty: boolean, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Reporter {
  // every character written for people goes through visible(): a value from a profile, facts or a
  // journal cannot move the cursor, hide the rest of a line or reorder it (report/visible.ts)
  const write = (t: string): void => void stderr.write(visible(t));
  // NO_COLOR (no-color.org): any value turns colour off
  const color = (stdout as { isTTY?: boolean }).isTTY === true && !process.env['NO_COLOR'];
  return {
    style: tty ? 'tty' : 'plain',
    interactive: true,
    color,
    result: (text) => void stdout.write(visible(text, color)),
    warn: (d) => write(`warning: ${formatDiagnostic(d)}\n`),
    event: () => undefined,
    say: (text) => write(text.endsWith('\n') ? text : text + '\n'),
    steps(plan, into) {
      if (tty && plan && !into) return ttyReporter(plan);
      const out = (line: string): void => (into ? into(line.trimEnd()) : write(line));
      return withHeartbeat(
        {
          emit: (e) => {
            const line = plainLine(e);
            if (line) out(line);
          },
        },
        plan,
        out,
      );
    },
    stages: () => (tty ? ttyStages() : plainStages(write)),
    error(err) {
      if (err instanceof LiveupdateError) {
        write(`error: ${err.message}\n`);
        for (const d of err.diagnostics) write(`  ${formatDiagnostic(d)}\n`);
        if (err.hint) write(`hint: ${err.hint}\n`);
        return exitFor(err.code);
      }
      const e = err instanceof Error ? err : new Error(String(err));
      write(`liveupdate hit a bug: ${e.message}\n`);
      write('Please report it with the command you ran, this output and the stack below.\n');
      write(`${e.stack ?? ''}\n`);
      return EXIT.bug;
    },
  };
}

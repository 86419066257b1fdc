/**
 * `-v` and `-vv`: what a run says beyond its report, as OpenSSH's -v does. Level 1: every command
 * run on a host (here or over SSH) with how it ended, every connection and socket opened; level 2:
 * also the SSH transport's own debug (ssh2's). The lines go to the sink the CLI sets (stderr, its
 * control characters shown escaped); without -v nothing is formatted at all.
 */
let level = 0;
let sink: (line: string) => void = () => undefined;

export function setDebug(to: number, write: (line: string) => void): void {
  level = to;
  sink = write;
}

export const debugLevel = (): number => level;

/** `line()` only runs at `at` or above: a debug line costs nothing otherwise. */
export function debug(at: 1 | 2, line: () => string): void {
  if (level >= at) sink(`debug${at}: ${line()}`);
}

/** How many times argv asks for -v: `-v`, `-vv`, `--verbose` (each once more). */
export function verbosity(argv: readonly string[]): number {
  let n = 0;
  for (const a of argv) {
    if (a === '--') break;
    if (a === '--verbose') n++;
    else if (/^-v+$/.test(a)) n += a.length - 1;
  }
  return n;
}

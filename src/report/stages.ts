/** A long command's stages (build, boot, update ...), each with an honest estimate and live output. */
import type { StageLine } from './stream.js';
import { visible } from './visible.js';

export interface Stages {
  run<T>(title: string, estimate: string, fn: (log: (line: string) => void) => Promise<T>): Promise<T>;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** listr2 on a terminal: one task per stage, its last output line shown under it. */
export function ttyStages(): Stages {
  return {
    async run(title, estimate, fn) {
      let value: unknown;
      const t0 = Date.now();
      const { Listr } = await import('listr2');
      await new Listr(
        [
          {
            title: `${title} (${estimate})`,
            task: async (_ctx, task) => {
              value = await fn((line) => (task.output = visible(line)));
              task.title = `${title} (${secs(Date.now() - t0)})`;
            },
            rendererOptions: { bottomBar: 1 },
          },
        ],
        { exitOnError: true, rendererOptions: { collapseErrors: false } },
      ).run();
      return value as Awaited<ReturnType<typeof fn>>;
    },
  };
}

/** One line when a stage starts and one when it ends; its output lines indented between. */
export function plainStages(write: (s: string) => void): Stages {
  return {
    async run(title, estimate, fn) {
      const t0 = Date.now();
      write(`▶ ${title} (${estimate})\n`);
      try {
        const v = await fn((line) => write(`    ${line}\n`));
        write(`✓ ${title} (${secs(Date.now() - t0)})\n`);
        return v;
      } catch (err) {
        write(`✗ ${title} (${secs(Date.now() - t0)})\n`);
        throw err;
      }
    },
  };
}

/** NDJSON: a stage event at each start and end. */
export function jsonStages(event: (e: StageLine) => void): Stages {
  return {
    async run(title, estimate, fn) {
      const t0 = Date.now();
      event({ type: 'stage-start', stage: title, estimate, at: t0 });
      try {
        const v = await fn(() => undefined);
        event({ type: 'stage-end', stage: title, at: Date.now(), ms: Date.now() - t0 });
        return v;
      } catch (err) {
        event({
          type: 'stage-failed',
          stage: title,
          at: Date.now(),
          ms: Date.now() - t0,
          message: err instanceof Error ? err.message : String(err),
        });
        throw err;
      }
    },
  };
}

import type { ListrTask } from 'listr2';
import type { Progress } from '../exec/events.js';
import type { FleetEvent } from '../fleet/events.js';
import { visible } from './visible.js';

interface Pending {
  promise: Promise<FleetEvent & { type: 'host-end' }>;
  settle: (e: FleetEvent & { type: 'host-end' }) => void;
  output?: (line: string) => void;
}

/** listr2 on a terminal: batch -> host -> the host's current phase and step. */
export function fleetTtyReporter(batches: string[][]): Required<Progress<FleetEvent>> {
  const pending = new Map<string, Pending>();
  for (const h of batches.flat()) {
    let settle!: Pending['settle'];
    const promise = new Promise<FleetEvent & { type: 'host-end' }>((r) => (settle = r));
    pending.set(h, { promise, settle });
  }
  const tasks: ListrTask[] = batches.map((hosts, i) => ({
    title: `batch ${i + 1} (${hosts.length} host${hosts.length === 1 ? '' : 's'})`,
    task: (_ctx, task) =>
      task.newListr(
        hosts.map((h): ListrTask => ({
          title: h,
          task: async (_c, t) => {
            const p = pending.get(h)!;
            p.output = (line) => (t.output = visible(line));
            const e = await p.promise;
            if (e.state === 'not-started') return t.skip(`${h}: not started`);
            if (e.state !== 'ok') throw new Error(visible(`${h}: ${e.state}${e.error ? `: ${e.error}` : ''}`));
            t.title = `${h} (${(e.ms / 1000).toFixed(1)} s${e.blackouts.length ? `; blackout ${e.blackouts.map((b) => `${b.vm} ${b.ms.toFixed(0)} ms`).join(', ')}` : ''}${e.earlier ? '; done earlier' : ''}${e.upToDate ? '; up to date, skipped' : ''})`;
          },
          rendererOptions: { outputBar: 1 },
        })),
        { concurrent: true, exitOnError: false },
      ),
  }));
  // listr2 loads here, when a terminal first shows progress (the tasks wait on events, not on it)
  const running = import('listr2')
    .then(({ Listr }) => new Listr(tasks, { concurrent: false, exitOnError: false, rendererOptions: { collapseSubtasks: false } }).run())
    .catch(() => undefined);
  return {
    emit: (e) => {
      if (e.type === 'host-step') pending.get(e.host)?.output?.(`${e.event.phase}: ${e.event.id}`);
      if (e.type === 'host-end') pending.get(e.host)?.settle(e);
    },
    finish: async () => {
      for (const [host, p] of pending) p.settle({ type: 'host-end', host, batch: 0, state: 'not-started', blackouts: [], ms: 0 });
      await running;
    },
  };
}

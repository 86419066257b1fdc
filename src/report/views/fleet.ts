/**
 * `liveupdate fleet plan|run|status`: the batches and each host's plan, a run's progress (listr2
 * batch -> host -> phase on a terminal, a line per fleet event in logs, NDJSON for programs) and its
 * report, a run's state read back. Human and JSON views, chosen once from the reporter's style.
 */
import type { HostPlanRow } from '../../app/fleet.js';
import type { ExecEvent, Progress } from '../../exec/events.js';
import type { FleetEvent, HostReport } from '../../fleet/events.js';
import { plainFleetLine, renderFleetPlan, renderFleetTable } from '../fleet-text.js';
import { fleetTtyReporter } from '../fleet-tty.js';
import type { FleetReport } from '../documents.js';
import type { Reporter } from '../reporter.js';
import type { HostStepLine } from '../stream.js';

export interface FleetView {
  planned(inventory: string, r: { batches: string[][]; hosts: HostPlanRow[] }): void;
  /** a run's progress, event by event */
  progress(): Required<Progress<FleetEvent>>;
  /** a run's end; `report` is where its report.json is, `resume` the command that resumes it */
  done(report: FleetReport, where: { report: string; resume: string }): void;
  /** a run read back from its fleet journal; `runId` null when there is none */
  status(runId: string | null, state: string, hosts: HostReport[], fleetDir: string): void;
}

/** A host's executor event as a stream line: flattened, its own type as `step`. */
function hostStepLine(host: string, e: ExecEvent): HostStepLine {
  const { type, ...rest } = e;
  return { ...rest, type: 'host-step', host, step: type } as HostStepLine;
}

function humanFleetView(out: Reporter, tty: boolean): FleetView {
  return {
    planned: (inventory, r) => out.result(renderFleetPlan(r), { type: 'fleet-plan', inventory, batches: r.batches, hosts: r.hosts }),
    progress() {
      if (!tty)
        return {
          emit: (e) => {
            const l = plainFleetLine(e);
            if (l) out.say(l);
          },
          finish: () => Promise.resolve(),
        };
      let view: Required<Progress<FleetEvent>> | undefined;
      return {
        emit: (e) => {
          if (e.type === 'fleet-run') view = fleetTtyReporter(e.batches);
          else if (e.type === 'stopped') out.say(`STOPPED: ${e.reason}`);
          else view?.emit(e);
        },
        finish: async () => {
          await view?.finish();
        },
      };
    },
    done(report, where) {
      const end = `${report.ok ? 'fleet run done' : report.stopped ? `fleet run STOPPED: ${report.stopped}` : 'fleet run finished with failures'} (run ${report.runId}; report ${where.report})\n`;
      out.result(renderFleetTable(report.hosts) + end + (report.ok ? '' : `resume it with: ${where.resume}\n`), report);
    },
    status(runId, state, hosts, fleetDir) {
      const text = runId === null ? `no fleet run in ${fleetDir}\n` : `fleet run ${runId}: ${state}\n${renderFleetTable(hosts)}`;
      out.result(text, { type: 'fleet-status', runId, state, hosts });
    },
  };
}

function jsonFleetView(out: Reporter): FleetView {
  return {
    planned: (inventory, r) => out.result('', { type: 'fleet-plan', inventory, batches: r.batches, hosts: r.hosts }),
    progress: () => ({
      emit: (e) => out.event(e.type === 'host-step' ? hostStepLine(e.host, e.event) : e),
      finish: () => Promise.resolve(),
    }),
    done: (report) => out.event({ ...report, type: 'result' }),
    status: (runId, state, hosts) => out.result('', { type: 'fleet-status', runId, state, hosts }),
  };
}

export function fleetView(out: Reporter): FleetView {
  return out.style === 'json' ? jsonFleetView(out) : humanFleetView(out, out.style === 'tty');
}

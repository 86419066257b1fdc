/** `liveupdate status`: where a host's run stands (and, with --follow, its steps until it ends). */
import type { StatusDocument } from '../../app/status.js';
import type { Progress } from '../../exec/events.js';
import type { Reporter } from '../reporter.js';
import { renderStatus } from '../status-text.js';

export interface StatusView {
  /** the steps of the run being followed (its plan is on the host, not here) */
  following(): Progress;
  /** following ended before the run did (Ctrl-C, silence, the agent died) */
  stoppedFollowing(why: string): void;
  result(doc: StatusDocument): void;
}

function humanStatusView(out: Reporter): StatusView {
  return {
    following: () => out.steps(undefined),
    stoppedFollowing: (why) => out.say(why),
    result: (doc) => out.result(renderStatus(doc), doc),
  };
}

function jsonStatusView(out: Reporter): StatusView {
  return {
    following: () => out.steps(undefined),
    stoppedFollowing: () => undefined,
    result: (doc) => out.result('', doc),
  };
}

export function statusView(out: Reporter): StatusView {
  return out.style === 'json' ? jsonStatusView(out) : humanStatusView(out);
}

/**
 * `liveupdate status`: a host's last run, replayed from its journal (the one on the host when the
 * agent ran it, else this control node's), as one document the view prints.
 */
import { blackouts, type Blackout } from '../exec/events.js';
import { Journal, journalEvents, jumped, profileJournal, readRemoteJournal, replay, type JournalRecord } from '../exec/journal.js';
import type { Host } from '../host/host.js';
import { LocalHost } from '../host/local.js';
import { requireProfile } from '../profile/load.js';
import { isLocal, openHost } from './hosts.js';
import { journalFor, type UpdateRequest } from './update.js';

export type StatusDocument =
  | { type: 'status'; journal: string; run: null }
  | {
      type: 'status';
      journal: string;
      run: Extract<JournalRecord, { type: 'run' }>;
      finished: boolean;
      done: string[];
      inFlight: string[];
      failed: Record<string, { code: string; message: string }>;
      blackouts: Blackout[];
      pointOfNoReturnPassed: boolean;
    };

/** The status of the profile's host; `follow` draws the run the agent has in flight there first (status --follow). */
export async function hostStatus(opts: UpdateRequest, follow?: (host: Host, journal: string) => Promise<void>): Promise<StatusDocument> {
  const { profile } = requireProfile(opts.profile);
  let file = journalFor(opts, profile);
  let records = Journal.read(file);
  if (!isLocal(opts.host)) {
    // the agent's journal is on the host; a run driven step by step over SSH has it here
    const host = openHost(opts);
    try {
      const onHost = profileJournal(profile);
      if (follow) await follow(host, onHost);
      const there = await readRemoteJournal(host, onHost);
      if (there.some((r) => r.type === 'run') || !records.length) {
        records = there;
        file = `${host.name}:${onHost}`;
      }
    } finally {
      await host.close();
    }
  } else if (follow) {
    await follow(new LocalHost(), profileJournal(profile));
    records = Journal.read(file);
  }
  const st = replay(records);
  if (!st) return { type: 'status', journal: file, run: null };
  return {
    type: 'status',
    journal: file,
    run: st.run,
    finished: st.finished,
    done: [...st.done.keys()],
    inFlight: [...st.inFlight],
    failed: Object.fromEntries(st.failed),
    blackouts: blackouts(journalEvents(st.records)),
    pointOfNoReturnPassed: jumped(st) !== undefined,
  };
}

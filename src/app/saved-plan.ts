/** Saved plans on disk (`plan --out`, `run --plan`): read bounded, checked for shape; what they mean is plan/saved.ts. */
import { LiveupdateError } from '../errors.js';
import { writeWhole } from './output-file.js';
import { readInputFile } from '../input/read.js';
import { SAVED_PLAN_FORMAT_VERSION, type SavedPlan } from '../plan/saved.js';

const SELECTIONS = new Set(['all', 'update', 'prepare', 'suspend', 'kexec', 'resume', 'abort']);

/**
 * Only its shape is checked here: a saved plan runs only when planning again from the same profile
 * and fresh facts gives exactly it (plan/saved.ts), so nothing in it is trusted on its own.
 */
export function readSavedPlan(file: string): SavedPlan {
  const text = readInputFile(file, 'saved plan', 'USAGE');
  let data: Partial<SavedPlan>;
  try {
    data = JSON.parse(text) as Partial<SavedPlan>;
  } catch (err) {
    throw new LiveupdateError('USAGE', `${file}: not a saved plan (not JSON: ${(err as Error).message.replace(/\s+/g, ' ')})`, {
      hint: "save one with 'liveupdate plan --profile FILE --out PLAN'",
    });
  }
  const ok =
    typeof data === 'object' &&
    data !== null &&
    data.type === 'saved-plan' &&
    typeof data.profile?.sha256 === 'string' &&
    typeof data.profile.path === 'string' &&
    SELECTIONS.has(String(data.selection)) &&
    Array.isArray(data.plan?.steps) &&
    typeof data.plan.facts?.bootId === 'string';
  if (!ok)
    throw new LiveupdateError(
      'USAGE',
      `${file}: not a saved plan (expected what 'liveupdate plan --out' writes: type saved-plan, profile, selection, plan)`,
    );
  if (data.formatVersion !== SAVED_PLAN_FORMAT_VERSION)
    throw new LiveupdateError(
      'USAGE',
      `${file}: saved plan format ${String(data.formatVersion)}, this liveupdate reads ${SAVED_PLAN_FORMAT_VERSION}; make the plan again`,
    );
  return data as SavedPlan;
}

/** Written whole or not at all (a reviewer never sees half a plan), 0600, never through or over what is not a regular file. */
export function writeSavedPlan(file: string, saved: SavedPlan): void {
  writeWhole(file, JSON.stringify(saved, null, 2) + '\n', '--out');
}

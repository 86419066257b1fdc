/** `liveupdate validate FILE`: the profile's schema and cross-field rules; no host is touched. */
import { LiveupdateError } from '../../errors.js';
import { loadProfile } from '../../profile/load.js';
import type { CommandContext } from '../context.js';

export function validate(file: string, { out }: CommandContext): void {
  const r = loadProfile(file);
  for (const w of r.warnings) out.warn(w);
  if (!r.value) {
    throw new LiveupdateError('PROFILE_INVALID', `${file}: ${r.errors.length} problem${r.errors.length === 1 ? '' : 's'}`, {
      diagnostics: r.errors,
    });
  }
  const doms = r.value.libvirt?.domains.length;
  out.result(
    `${file}: valid (${r.value.persistence.backend}, ${r.value.vms.length} VM${r.value.vms.length === 1 ? '' : 's'}${doms ? `, ${doms} libvirt domain${doms === 1 ? '' : 's'}` : ''})\n`,
    {
      type: 'validated',
      file,
      valid: true,
      profile: r.value,
    },
  );
}

/** `liveupdate profile import --libvirt [URI]`: a starting profile from the host's running domains. */
import { LiveupdateError } from '../../errors.js';
import { importLibvirtProfile } from '../../app/profile-import.js';
import { writeWhole } from '../../app/output-file.js';
import type { HostOptions } from '../../app/hosts.js';
import type { CommandContext } from '../context.js';

export interface ProfileImportOpts extends HostOptions {
  libvirt?: string | true;
  out?: string;
}

export async function profileImport(opts: ProfileImportOpts, { out }: CommandContext): Promise<void> {
  if (opts.libvirt === undefined)
    throw new LiveupdateError(
      'USAGE',
      'profile import: say where from: --libvirt [URI] (the domains libvirt runs; URI default qemu:///system)',
    );
  const uri = opts.libvirt === true ? 'qemu:///system' : opts.libvirt;
  const { text, domains } = await importLibvirtProfile({ ...opts, libvirt: uri });
  if (opts.out) {
    writeWhole(opts.out, text, '--out');
    out.result(
      `${opts.out}: a profile for ${domains.length} domain${domains.length === 1 ? '' : 's'} (${domains.join(', ')}); check it, then liveupdate plan --profile ${opts.out}\n`,
      {
        type: 'profile-imported',
        file: opts.out,
        domains,
      },
    );
  } else out.result(text, { type: 'profile-imported', domains, text });
}

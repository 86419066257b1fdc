import type { Command } from 'commander';
import { LiveupdateError } from '../../errors.js';
import { loadProfile } from '../../profile/load.js';
import type { Reporter } from '../../report/reporter.js';

export function registerValidate(program: Command, out: () => Reporter): void {
  program
    .command('validate')
    .description('check a host profile against the schema and the cross-field rules (no host is touched)')
    .argument('<profile>', 'host profile YAML')
    .action((file: string) => {
      const o = out();
      const r = loadProfile(file);
      for (const w of r.warnings) o.warn(w);
      if (!r.value) {
        throw new LiveupdateError('PROFILE_INVALID', `${file}: ${r.errors.length} problem${r.errors.length === 1 ? '' : 's'}`, { diagnostics: r.errors });
      }
      o.result(`${file}: valid (${r.value.persistence.backend}, ${r.value.vms.length} VM${r.value.vms.length === 1 ? '' : 's'})\n`, {
        type: 'validated',
        file,
        valid: true,
        profile: r.value,
      });
    });
}

import { kernelWords, parseKernelCmdline, type KernelParam } from '../kernel-cmdline.js';
import { formatSize } from '../units.js';
import type { Persistence, Profile } from '../profile/types.js';

/** The kernel's own parameters of a cmdline (before any `--`), as written: src/kernel-cmdline.ts reads it as the kernel does. */
export const splitCmdline = kernelWords;

/**
 * The words liveupdate owns for a backend. Boot params make the carve-out; kexec params also
 * tell the next kernel that this is a live update.
 */
export function managedParams(p: Persistence, forKexec: boolean): string[] {
  switch (p.backend) {
    case 'pkernfs': {
      if (p.offset === 'auto') throw new Error('carve-out offset must be resolved before composing the cmdline');
      const size = formatSize(p.size);
      const at = formatSize(p.offset);
      // KASLR avoids only #, $ and ! ranges: without nokaslr the next kernel may land on pkernfs.
      const words = [`memmap=${size}%${at}`, 'nopat', `pkernfs=${size}!${at}`, 'nokaslr'];
      return forKexec ? [...words, 'liveupdate'] : words;
    }
    case 'pmem': {
      if (p.offset === 'auto') throw new Error('carve-out offset must be resolved before composing the cmdline');
      return [`memmap=${formatSize(p.size)}!${formatSize(p.offset)}`];
    }
    case 'luo':
      return ['kho=on', 'liveupdate=on', ...(p.khoScratch !== undefined ? [`kho_scratch=${formatSize(p.khoScratch)}`] : [])];
  }
}

/** Is this parameter one liveupdate manages (and so replaces rather than repeats)? */
function isManaged(p: KernelParam): boolean {
  if (['pkernfs', 'nopat', 'nokaslr', 'liveupdate', 'kho', 'kho_scratch', 'kho_bootmem'].includes(p.name)) return true;
  // Only the persistence forms of memmap: `!` (pmem) and `%` (pkernfs removal); the others are judged by the plan's rules.
  return p.name === 'memmap' && /[!%]/.test(p.value ?? '');
}

/** Bootloader-injected words that must not be passed to kexec. */
const BOOTLOADER_WORDS = new Set(['BOOT_IMAGE', 'initrd']);

/** A running command line less what the bootloader put there (a kexec'd kernel has none of it). */
export function withoutBootloaderWords(line: string): string {
  const p = parseKernelCmdline(line);
  const kept = p.params.filter((w) => !BOOTLOADER_WORDS.has(w.name)).map((w) => w.raw);
  return [...kept, ...(p.terminated ? ['--', p.init.trim()] : [])].join(' ');
}

export interface ComposedCmdline {
  cmdline: string;
  managed: string[];
}

/**
 * The next kernel's cmdline: the running one (or the profile's) minus stale managed words, then the
 * profile's additions and the managed set, all before any `--` (init's part stays last). Read back
 * the way the kernel reads it, it must hold every managed parameter: the profile's and the facts'
 * rules refuse what could hide one (plan/rules.ts, profile/rules.ts); this is the proof.
 */
export function composeKexecCmdline(profile: Profile, persistence: Persistence, running: string): ComposedCmdline {
  const managed = managedParams(persistence, true);
  const c = profile.kexec.cmdline;
  const source = parseKernelCmdline(c.policy === 'replace' ? (c.value ?? '') : running);
  const removeKeys = new Set(c.remove);
  const kept = source.params.filter((p) => !isManaged(p) && !BOOTLOADER_WORDS.has(p.name) && !removeKeys.has(p.name)).map((p) => p.raw);
  const appended = c.append.filter((w) => !kept.includes(w) && !managed.includes(w));
  const init = source.init.trimEnd();
  const cmdline = [...kept, ...appended, ...managed, ...(source.terminated ? ['--', ...(init ? [init] : [])] : [])].join(' ');
  const seen = new Set(kernelWords(cmdline));
  const hidden = [...managed, ...appended].filter((w) => !seen.has(w));
  if (hidden.length) throw new Error(`the composed cmdline hides ${hidden.join(' ')} from the kernel: ${cmdline}`);
  return { cmdline, managed };
}

/** Does the running cmdline carry every boot-time managed word? */
export function missingBootParams(persistence: Persistence, running: string): string[] {
  const words = new Set(kernelWords(running));
  return managedParams(persistence, false).filter((w) => !words.has(w));
}

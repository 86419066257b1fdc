import { formatSize } from '../units.js';
import type { Persistence, Profile } from '../profile/types.js';

/** Kernel cmdline words, honouring double quotes as the kernel's parser does. */
export function splitCmdline(cmdline: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let any = false;
  for (const ch of cmdline.trim()) {
    if (ch === '"') {
      quoted = !quoted;
      cur += ch;
      any = true;
    } else if (/\s/.test(ch) && !quoted) {
      if (any) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
      any = true;
    }
  }
  if (any) out.push(cur);
  return out;
}

export function paramKey(word: string): string {
  const eq = word.indexOf('=');
  return eq < 0 ? word : word.slice(0, eq);
}

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

/** Is this word one liveupdate manages (and so replaces rather than repeats)? */
function isManaged(word: string): boolean {
  const key = paramKey(word);
  if (['pkernfs', 'nopat', 'nokaslr', 'liveupdate', 'kho', 'kho_scratch', 'kho_bootmem'].includes(key)) return true;
  // Only the persistence forms of memmap: `!` (pmem) and `%` (pkernfs removal); `$`/`#`/exactmap stay.
  if (key === 'memmap') return /[!%]/.test(word);
  return false;
}

/** Bootloader-injected words that must not be passed to kexec. */
const BOOTLOADER_WORDS = new Set(['BOOT_IMAGE', 'initrd']);

export interface ComposedCmdline {
  cmdline: string;
  managed: string[];
}

/** The next kernel's cmdline: the running one minus stale managed words, plus the managed set. */
export function composeKexecCmdline(profile: Profile, persistence: Persistence, running: string): ComposedCmdline {
  const managed = managedParams(persistence, true);
  const c = profile.kexec.cmdline;
  const words = c.policy === 'replace' ? splitCmdline(c.value ?? '') : splitCmdline(running);
  // Words after `--` belong to init: kernel params must stay before it.
  const dash = words.indexOf('--');
  const kernelWords = dash < 0 ? words : words.slice(0, dash);
  const initWords = dash < 0 ? [] : words.slice(dash);
  const removeKeys = new Set(c.remove);
  const kept = kernelWords.filter((w) => !isManaged(w) && !BOOTLOADER_WORDS.has(paramKey(w)) && !removeKeys.has(paramKey(w)));
  const appended = c.append.filter((w) => !kept.includes(w) && !managed.includes(w));
  return { cmdline: [...kept, ...appended, ...managed, ...initWords].join(' '), managed };
}

/** Does the running cmdline carry every boot-time managed word? */
export function missingBootParams(persistence: Persistence, running: string): string[] {
  const all = splitCmdline(running);
  const dash = all.indexOf('--');
  const words = new Set(dash < 0 ? all : all.slice(0, dash));
  return managedParams(persistence, false).filter((w) => !words.has(w));
}

/**
 * The kernel's command line as the kernel reads it (lib/cmdline.c `next_arg`, kernel/params.c
 * `parse_args`), so that what liveupdate composes, checks and proves is what the next kernel will
 * see: bytes, not characters; the kernel's isspace() (tab, newline, vertical tab, form feed, carriage
 * return, space, and byte 0xA0, which is half of a UTF-8 no-break space); a double quote toggles
 * quoting anywhere in a word and is stripped around a whole word or a whole value; the first bare
 * `--` (quoted or not) ends the kernel's parameters, and everything after it goes to init.
 * A leaf: the profile's rules, the planner and the executor's checks all read lines through it.
 */

/** One kernel parameter: its text as written (`raw`), and its name and value as the kernel sees them. */
export interface KernelParam {
  raw: string;
  name: string;
  /** undefined for a bare word (`quiet`); '' for `name=` */
  value: string | undefined;
}

export interface ParsedCmdline {
  /** what the kernel parses as its own parameters, in order */
  params: KernelParam[];
  /** whether a `--` ended them */
  terminated: boolean;
  /** what follows the `--`, as one string (init's arguments), or '' */
  init: string;
}

const isKernelSpace = (b: number): boolean => (b >= 0x09 && b <= 0x0d) || b === 0x20 || b === 0xa0;
const QUOTE = 0x22;
const EQUALS = 0x3d;
const decode = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** Parse `line` as the kernel does. */
export function parseKernelCmdline(line: string): ParsedCmdline {
  const bytes = Buffer.from(line, 'utf8');
  const params: KernelParam[] = [];
  let i = 0;
  const skipSpaces = (): void => {
    while (i < bytes.length && isKernelSpace(bytes[i]!)) i++;
  };
  skipSpaces();
  while (i < bytes.length) {
    const start = i;
    // next_arg: a leading quote is stripped (with its partner at the end of the word)
    let p = i;
    let quoted = false;
    if (bytes[p] === QUOTE) {
      p++;
      quoted = true;
    }
    let inQuote = quoted;
    let equals = -1;
    let j = p;
    for (; j < bytes.length; j++) {
      const b = bytes[j]!;
      if (isKernelSpace(b) && !inQuote) break;
      // as the kernel: the first '=' after the word's first byte (one at its very start is part of the name)
      if (equals < 0 && b === EQUALS && j > p) equals = j;
      if (b === QUOTE) inQuote = !inQuote;
    }
    const raw = decode(bytes.subarray(start, j));
    let name: string;
    let value: string | undefined;
    if (equals < 0) {
      let e = j;
      if (quoted && bytes[e - 1] === QUOTE && e - 1 >= p) e--;
      name = decode(bytes.subarray(p, e));
      value = undefined;
    } else {
      name = decode(bytes.subarray(p, equals));
      let v = equals + 1;
      let e = j;
      if (bytes[v] === QUOTE) {
        v++;
        if (bytes[e - 1] === QUOTE && e - 1 >= v) e--;
      } else if (quoted && bytes[e - 1] === QUOTE && e - 1 >= v) e--;
      value = decode(bytes.subarray(v, e));
    }
    i = j < bytes.length ? j + 1 : j;
    skipSpaces();
    if (value === undefined && name === '--') return { params, terminated: true, init: decode(bytes.subarray(i)) };
    params.push({ raw, name, value });
  }
  return { params, terminated: false, init: '' };
}

/**
 * Parameters that change the next kernel's memory map, other than the carve-out's own (managed
 * by liveupdate): with them the new kernel may take the carve-out for RAM, or not see it at all.
 * `memmap=nn$ss` (reserved) and `memmap=nn#ss` (ACPI data) only keep the new kernel off a range,
 * as the running one was, and stay.
 */
export function changesMemoryMap(p: KernelParam): boolean {
  if (['mem', 'max_addr', 'efi_fake_mem', 'memmap'].includes(p.name) === false) return false;
  if (p.name !== 'memmap') return true;
  return !/^[0-9]+[KMGTP]?[$#][0-9a-fx]+[KMGTP]?$/i.test(p.value ?? '');
}

/** The kernel parameters of a line, as written: what the kernel sees before any `--`. */
export const kernelWords = (line: string): string[] => parseKernelCmdline(line).params.map((p) => p.raw);

/**
 * Why `word` is not exactly one kernel parameter that leaves the rest of a line alone, or undefined
 * when it is: it must parse as one parameter written as given, must not be `--` (which would hand
 * every parameter after it to init), and must close its quotes (an open quote takes the rest of the
 * line into its value).
 */
export function notOneParam(word: string): string | undefined {
  if (word === '') return 'is empty';
  if ([...Buffer.from(word, 'utf8')].some((b) => b < 0x20 || b === 0x7f)) return 'holds a control character';
  const quotes = [...word].filter((c) => c === '"').length;
  if (quotes % 2) return 'opens a double quote it does not close: the kernel would read the rest of the line into it';
  const parsed = parseKernelCmdline(word);
  if (parsed.terminated) return "is '--', which ends the kernel's parameters: everything after it would go to init";
  if (parsed.params.length !== 1 || parsed.params[0]!.raw !== word)
    return 'is more than one parameter to the kernel (it splits on space, tab, newline and byte 0xA0 outside quotes)';
  return undefined;
}

/** Two command lines the kernel reads alike: the same parameters in order, and the same words for init after `--`. */
export function sameCmdline(a: string, b: string): boolean {
  const x = parseKernelCmdline(a);
  const y = parseKernelCmdline(b);
  const read = (p: ParsedCmdline): string =>
    `${p.params.map((w) => w.raw).join(' ')}${p.terminated ? ` -- ${p.init.trim().split(/\s+/).join(' ')}` : ''}`;
  return read(x) === read(y);
}

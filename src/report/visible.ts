/**
 * What a reviewer sees is what runs: text for a terminal shows every character that could move the
 * cursor, erase or hide text, change the terminal's state or reorder a line (C0 and C1 controls
 * other than newline and tab, DEL, escape sequences, Unicode's bidirectional overrides and
 * isolates) as an escape (`\x1b`, `\u202e`) instead of sending it. The only sequences that pass are
 * the bold and dim liveupdate's own renderers add on a colour terminal.
 */
const OWN_SGR = new Set(['\x1b[1m', '\x1b[2m', '\x1b[22m']);

// eslint-disable-next-line no-control-regex
const UNSAFE = /\x1b\[(?:1|2|22)m|[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function visible(text: string, colour = false): string {
  return text.replace(UNSAFE, (c) => {
    if (OWN_SGR.has(c)) return colour ? c : c.replace('\x1b', '\\x1b');
    const code = c.codePointAt(0)!;
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** "Did you mean": the known word a mistyped one most likely meant (flags, profile and inventory fields). */

/** Edit distance with transpositions (optimal string alignment): `--fatcs` is one edit from `--facts`. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

/** What other tools call these fields (Ansible's inventory variables, snake_case keywords), in liveupdate's words. */
const OTHER_TOOLS: Readonly<Record<string, string>> = {
  ansible_host: 'address',
  ansible_port: 'port',
  ansible_user: 'user',
  ansible_ssh_private_key_file: 'identity',
  ansible_become: 'become',
};

const camel = (w: string): string => w.replace(/[_-]([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The candidate `word` most likely meant, or undefined when none is close (case, snake_case and one or two edits are). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const known = OTHER_TOOLS[word];
  if (known && candidates.includes(known)) return known;
  const folded = (w: string): string => camel(w.replace(/^-+/, '')).toLowerCase();
  const exact = candidates.find((c) => folded(c) === folded(word));
  if (exact) return exact;
  const limit = Math.max(1, Math.min(3, Math.floor(word.replace(/^-+/, '').length / 3)));
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(folded(word), folded(c));
    if (d <= limit && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

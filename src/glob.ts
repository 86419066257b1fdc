/**
 * Shell-style wildcards (`*` any run, `?` one character; nothing else is special), as `--limit`
 * terms and known_hosts patterns use them. Matched without regular expressions and without
 * backtracking over more than the last `*`: time is at most pattern length × name length, however
 * many stars (a regex of `.*` runs took over 30 s for 14 stars against a long name).
 */
export function globMatch(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  // where the last `*` was, and the name position it is currently standing for up to
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === name[n])) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = n;
    } else if (star >= 0) {
      // let the last star take one more character and try the rest again
      p = star + 1;
      n = ++resume;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

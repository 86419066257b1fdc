import { homedir } from 'node:os';

/**
 * `~` and `~/...` in a path an operator gave (a flag, an inventory field) are their home, as in a
 * shell: `--known-hosts=~/.ssh/known_hosts` and `knownHosts: ~/.ssh/known_hosts` reach liveupdate
 * unexpanded. `~user` is left as it is (a file of that name).
 */
export function expandHome(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? `${homedir()}${path.slice(1)}` : path;
}

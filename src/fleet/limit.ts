/**
 * `--limit EXPR`, Ansible's pattern language cut to what operators use: terms separated by ',' or
 * ':'; a term is a host name (globs * and ?), a group name, or label=value; `!term` excludes and
 * `&term` intersects. Pure.
 */
import { LiveupdateError } from '../errors.js';
import { globMatch } from '../glob.js';

export interface Limitable {
  name: string;
  groups: string[];
  labels: Record<string, string>;
}

function matches(h: Limitable, term: string): boolean {
  const eq = term.indexOf('=');
  if (eq > 0) {
    const v = h.labels[term.slice(0, eq)];
    return v !== undefined && globMatch(term.slice(eq + 1), v);
  }
  return globMatch(term, h.name) || h.groups.some((g) => globMatch(term, g));
}

/** The hosts the expression selects, in their order; throws on an empty term. */
export function applyLimit<T extends Limitable>(hosts: readonly T[], expr: string | undefined): T[] {
  if (expr === undefined || expr.trim() === '') return hosts.slice();
  const terms = expr.split(/[,:]/).map((t) => t.trim());
  if (terms.some((t) => t === '' || t === '!' || t === '&')) throw new LiveupdateError('USAGE', `--limit '${expr}': empty term`);
  const plus = terms.filter((t) => !t.startsWith('!') && !t.startsWith('&'));
  const and = terms.filter((t) => t.startsWith('&')).map((t) => t.slice(1));
  const not = terms.filter((t) => t.startsWith('!')).map((t) => t.slice(1));
  return hosts.filter(
    (h) => (plus.length === 0 || plus.some((t) => matches(h, t))) && and.every((t) => matches(h, t)) && !not.some((t) => matches(h, t)),
  );
}

import type { Diagnostic } from '../errors.js';

/** Where a field of a file an operator wrote (a profile, an inventory) sits in it: `file:line:col`. */
export type Locate = (path: ReadonlyArray<string | number>, opts?: { key?: boolean }) => string;

/** Diagnostics in file order: line, then column. */
export function byPosition(ds: Diagnostic[]): Diagnostic[] {
  const pos = (d: Diagnostic): [number, number] => {
    const m = /:([0-9]+):([0-9]+)$/.exec(d.where ?? '');
    return m ? [Number(m[1]), Number(m[2])] : [0, 0];
  };
  return [...ds].sort((a, b) => {
    const [la, ca] = pos(a);
    const [lb, cb] = pos(b);
    return la - lb || ca - cb;
  });
}

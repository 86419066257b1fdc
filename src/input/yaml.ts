import { isMap, isSeq, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Diagnostic } from '../errors.js';
import type { Locate } from './position.js';

/** A YAML file read with positions kept, so every message can say file:line:col. */
export interface YamlSource {
  file: string;
  data: unknown;
  locate: Locate;
  /** YAML syntax errors, already positioned */
  syntaxErrors: Diagnostic[];
}

/** YAML aliases (`*name`) a file may use, counted as expanded: none of ours needs more than a few. */
const MAX_ALIAS_COUNT = 100;

/**
 * Values a file may hold once its aliases are expanded (every list item, map value and scalar):
 * a thousand hosts or VMs with all their fields are a few ten thousand; a few aliases of a large
 * list are millions, which the planner would turn into argv words until the heap runs out.
 */
export const MAX_EXPANDED_VALUES = 250_000;

/** How many values `data` holds, counting up to `limit` and no further (iterative: no recursion). */
function countValues(data: unknown, limit: number): number {
  let n = 0;
  const todo: unknown[] = [data];
  while (todo.length && n <= limit) {
    const v = todo.pop();
    n++;
    // one by one, not spread: a list of millions would not fit in one call's arguments
    const children: unknown[] = Array.isArray(v) ? (v as unknown[]) : v !== null && typeof v === 'object' ? Object.values(v) : [];
    if (n + todo.length + children.length > limit) return limit + 1;
    for (const c of children) todo.push(c);
  }
  return n;
}

export function fieldPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

export function readYaml(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const syntaxErrors: Diagnostic[] = doc.errors.map((e) => ({
    where: at(e.pos[0]),
    // the parser recursed until the stack ran out: say what it means for the file
    message: /Maximum call stack/.test(e.message)
      ? `nested too deeply (more levels of YAML nesting than liveupdate reads)`
      : (e.message.split('\n')[0] ?? e.message),
  }));

  const locate: Locate = (path, opts) => {
    // Walk as deep as the document goes; a missing field points at its parent.
    let node: unknown = doc.contents;
    let offset = doc.contents?.range?.[0] ?? 0;
    for (const [i, key] of path.entries()) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
        if (!pair) break;
        offset = (pair.key as Node).range?.[0] ?? offset;
        node = pair.value;
        const last = i === path.length - 1;
        // A scalar value is pointed at itself; a collection (or a field named as a key) at its key.
        if (!(last && opts?.key) && node && (node as Node).range && !isMap(node) && !isSeq(node)) offset = (node as Node).range![0];
      } else if (isSeq(node) && typeof key === 'number' && node.items[key] !== undefined) {
        node = node.items[key];
        offset = (node as Node).range?.[0] ?? offset;
      } else break;
    }
    return at(offset);
  };

  let data: unknown;
  if (!syntaxErrors.length) {
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      // an alias bomb (anchors that refer to anchors, expanding exponentially), or a stack overflow
      const bomb = e instanceof ReferenceError && /alias/i.test(e.message);
      if (!bomb && !(e instanceof RangeError)) throw e;
      syntaxErrors.push({
        where: at(0),
        message: bomb
          ? `YAML aliases expand too far (more than ${MAX_ALIAS_COUNT} alias uses once expanded)`
          : 'nested too deeply (more levels of YAML nesting than liveupdate reads)',
      });
    }
    if (data !== undefined && countValues(data, MAX_EXPANDED_VALUES) > MAX_EXPANDED_VALUES) {
      syntaxErrors.push({
        where: at(0),
        message: `holds more than ${MAX_EXPANDED_VALUES} values once its YAML aliases are expanded: liveupdate reads no more`,
      });
      data = undefined;
    }
  }
  return { file, data, locate, syntaxErrors };
}

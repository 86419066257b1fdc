// The architecture as the imports draw it (pure: reads src/**/*.ts as text): each top folder of src/
// is a room; no import cycle between rooms or between files, and no room reaches back up the flow
// (docs/architecture.md). Type-only imports count: they are arrows a reader follows too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT } from '../helpers/paths.js';

const SRC = join(ROOT, 'src');
const files = (readdirSync(SRC, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.cts'))
  .map((f) => join(SRC, f));
const room = (file: string): string => {
  const parts = relative(SRC, file).split('/');
  return parts.length > 1 ? parts[0]! : '(leaf)';
};
const edges = new Map<string, Set<string>>();
for (const f of files) {
  const to = new Set<string>();
  for (const m of readFileSync(f, 'utf8').matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gms)) {
    to.add(
      normalize(join(dirname(f), m[1]!))
        .replace(/\.js$/, '.ts')
        .replace(/\.cjs$/, '.d.cts'),
    );
  }
  edges.set(f, to);
}
const roomEdges = new Map<string, Set<string>>();
for (const [f, to] of edges)
  for (const t of to) if (room(f) !== room(t)) (roomEdges.get(room(f)) ?? roomEdges.set(room(f), new Set()).get(room(f))!).add(room(t));

/** A cycle in `g`, as the nodes on it, or undefined. */
function cycle(g: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...path.slice(path.indexOf(n)), n];
    state.set(n, 'open');
    path.push(n);
    for (const m of g.get(n) ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    path.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of g.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

test('the imports found every module and arrow (the check below would pass on nothing)', () => {
  assert.ok(files.length > 100, `${files.length} modules`);
  assert.ok(
    roomEdges.get('cli')?.has('app') && roomEdges.get('exec')?.has('plan'),
    JSON.stringify([...roomEdges].map(([k, v]) => [k, [...v]])),
  );
});

test('no import cycle: not between rooms, not between files', () => {
  assert.equal(cycle(roomEdges)?.join(' -> '), undefined);
  const c = cycle(edges);
  assert.equal(c?.map((f) => relative(SRC, f)).join(' -> '), undefined);
});

test('no room reaches back up the flow: profile -> facts -> plan -> exec -> report, use cases and the CLI on top', () => {
  const above = new Set(['app', 'cli', 'report']);
  for (const [from, to] of roomEdges) {
    if (!above.has(from)) for (const t of to) assert.ok(!above.has(t), `${from} imports ${t}`);
  }
  assert.ok(![...(roomEdges.get('profile') ?? [])].includes('plan'), 'profile imports plan');
  assert.ok(![...(roomEdges.get('report') ?? [])].includes('cli'), 'report imports cli');
  assert.ok(![...(roomEdges.get('app') ?? [])].some((t) => t === 'cli' || t === 'report'), 'app imports cli or report');
});

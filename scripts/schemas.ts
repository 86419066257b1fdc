// `npm run schemas`: the published JSON Schemas of what liveupdate writes, generated from the types
// the code writes them with (ts-json-schema-generator): schemas/plan.schema.json (`plan --json`),
// schemas/saved-plan.schema.json (`plan --out`), schemas/document.schema.json (any document a
// command prints whole with `--json`), schemas/events.schema.json (one line of a `--json` event stream). Committed; test/unit/report/schemas.test.ts fails when they drift from the types.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGenerator } from 'ts-json-schema-generator';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

export const PUBLISHED: Array<{ file: string; source: string; type: string; title: string }> = [
  { file: 'schemas/plan.schema.json', source: 'src/report/stream.ts', type: 'PlanDocument', title: 'liveupdate plan (plan --json)' },
  {
    file: 'schemas/saved-plan.schema.json',
    source: 'src/plan/saved.ts',
    type: 'SavedPlan',
    title: 'liveupdate saved plan (plan --out FILE)',
  },
  {
    file: 'schemas/document.schema.json',
    source: 'src/report/documents.ts',
    type: 'PrintedDocument',
    title: "a liveupdate --json document: a command's whole output when it does not stream (an error too)",
  },
  {
    file: 'schemas/events.schema.json',
    source: 'src/report/stream.ts',
    type: 'EventLine',
    title: 'one line of a liveupdate --json event stream (NDJSON)',
  },
];

/** Each published schema as text, from the types as they are now. */
export function generateSchemas(): Array<{ file: string; text: string }> {
  return PUBLISHED.map(({ file, source, type, title }) => {
    const schema = createGenerator({
      path: join(root, source),
      tsconfig: join(root, 'tsconfig.json'),
      type,
      skipTypeCheck: true,
      topRef: true,
      jsDoc: 'extended',
    }).createSchema(type);
    const id = `https://liveupdate.dev/schema/${file.replace(/^schemas\/|\.schema\.json$/g, '')}-v1.json`;
    return { file, text: JSON.stringify({ $id: id, title, ...schema }, null, 2) + '\n' };
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const { file, text } of generateSchemas()) writeFileSync(join(root, file), text);
}

/**
 * Debian's ansible-core with this project's collection: installed from the tarball the build made
 * (`npm run build:collection`) into a collections path of its own, and `ansible-playbook` run with
 * it, every task result read back through the tests' record callback (test/helpers/ansible/record.py).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.js';

export interface TaskResult {
  host: string;
  task: string;
  status: 'ok' | 'failed' | 'skipped' | 'unreachable';
  result: { changed?: boolean; msg?: string; [k: string]: unknown };
}

/** The collection installed under `dir/collections`; that path. Throws when it is not built. */
export function installCollection(dir: string): string {
  const built = existsSync(join(ROOT, 'dist/ansible')) ? readdirSync(join(ROOT, 'dist/ansible')).filter((f) => f.endsWith('.tar.gz')) : [];
  if (built.length !== 1)
    throw new Error(`the collection is not built (dist/ansible holds ${built.length} tarballs): npm run build:collection`);
  const collections = join(dir, 'collections');
  execFileSync('ansible-galaxy', ['collection', 'install', '-p', collections, join(ROOT, 'dist/ansible', built[0]!)], { stdio: 'pipe' });
  return collections;
}

/** `ansible-playbook -i INVENTORY ARGS` with the collections path; each task's result in order. */
export function runPlaybook(
  o: { collections: string; inventory: string; dir: string; timeoutMs: number },
  args: string[],
): { code: number | null; out: string; records: TaskResult[] } {
  const record = join(o.dir, `record-${Math.random().toString(36).slice(2)}.jsonl`);
  const r = spawnSync('ansible-playbook', ['-i', o.inventory, ...args], {
    encoding: 'utf8',
    timeout: o.timeoutMs,
    env: {
      ...process.env,
      ANSIBLE_COLLECTIONS_PATH: o.collections,
      ANSIBLE_CALLBACK_PLUGINS: join(ROOT, 'test/helpers/ansible'),
      ANSIBLE_CALLBACKS_ENABLED: 'record',
      LU_ANSIBLE_RECORD: record,
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_RETRY_FILES_ENABLED: 'false',
    },
  });
  const records = existsSync(record)
    ? readFileSync(record, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as TaskResult)
    : [];
  return { code: r.status, out: r.stdout + r.stderr, records };
}

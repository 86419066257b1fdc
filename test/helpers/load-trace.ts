/**
 * `node --import dist/test/helpers/load-trace.js ...` with LU_LOAD_TRACE=FILE: every module the
 * process loads through the ES module loader, one URL per line in FILE. Imported on the main thread
 * it registers itself as the loader hooks; on the hooks thread its `resolve` writes each URL.
 */
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

type Next = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<{ url: string }> {
  const r = await next(specifier, context);
  const file = process.env['LU_LOAD_TRACE'];
  if (file) appendFileSync(file, `${r.url}\n`);
  return r;
}

if (isMainThread) register(import.meta.url);

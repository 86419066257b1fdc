import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** Repository root: tests run from dist/test/..., fixtures stay in test/fixtures. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const fixture = (...parts: string[]): string => join(ROOT, 'test', 'fixtures', ...parts);
export const profilePath = (name: string): string => join(ROOT, 'profiles', name);

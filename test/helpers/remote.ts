import assert from 'node:assert/strict';
import type { Host } from '../../src/host/host.js';

/** argv on the host, which must exit 0; its trimmed stdout. */
export async function mustRun(host: Host, argv: string[]): Promise<string> {
  const r = await host.exec(argv, { timeoutMs: 60_000 });
  assert.equal(r.exitCode, 0, `${argv.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Temporary folders that go when the test file's process ends, pass or fail: the suite checks at its
 * end that it left nothing in /tmp or /var/tmp (scripts/test). A drop-in for mkdtempSync(prefix).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';

const made: string[] = [];

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(prefix);
  if (made.length === 0) process.on('exit', removeAll);
  made.push(dir);
  return dir;
}

function removeAll(): void {
  for (const dir of made.splice(0)) {
    // a loop-mounted file system a failed test left mounted below it goes first, deepest first
    const mounts = spawnSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((m) => m.startsWith(`${dir}/`));
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    rmSync(dir, { recursive: true, force: true });
  }
}

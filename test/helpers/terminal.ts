/** The CLI on a real pseudo-terminal (util-linux `script`): what an operator at a terminal sees and types. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './paths.js';

/** Runs bin/liveupdate.js ARGS on a pty; types `type` (and Enter) once the output shows `when`. */
export function onTerminal(
  args: string[],
  answer: { when: string; type: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; out: string }> {
  const command = [process.execPath, join(ROOT, 'bin/liveupdate.js'), ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve) => {
    // CI unset: a terminal outside CI, as an operator's
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...env, CI: '' } });
    let out = '';
    let typed = false;
    const seen = (d: Buffer): void => {
      out += d.toString();
      if (!typed && out.includes(answer.when)) {
        typed = true;
        child.stdin.write(`${answer.type}\r`);
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('close', (code) => resolve({ code, out }));
  });
}

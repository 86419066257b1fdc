/** A passphrase typed on this terminal, not echoed (as ssh asks for one); Ctrl-C gives up. */
import { LiveupdateError } from '../errors.js';

export const canAsk = (): boolean => Boolean(process.stdin.isTTY && process.stderr.isTTY);

export function askHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    const onData = (d: Buffer): void => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          return resolve(value);
        }
        if (ch === '\u0003') {
          done();
          return reject(new LiveupdateError('INTERRUPTED', 'interrupted at the passphrase prompt; nothing was done'));
        }
        value = ch === '\u007f' || ch === '\b' ? value.slice(0, -1) : value + ch;
      }
    };
    // echo off before the prompt shows: what is typed as soon as it appears is never echoed
    input.setRawMode(true);
    input.on('data', onData);
    input.resume();
    process.stderr.write(prompt);
  });
}

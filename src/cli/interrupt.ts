import { EXIT } from '../errors.js';

/** Ctrl-C: the innermost command that asked handles it (following an agent detaches); otherwise exit 130. */
const handlers: Array<() => void> = [];

export function onInterrupt(fn: () => void): () => void {
  handlers.push(fn);
  return () => void handlers.splice(handlers.indexOf(fn), 1);
}

export function interrupt(): void {
  const h = handlers.at(-1);
  if (h) h();
  else process.exit(EXIT.interrupted);
}

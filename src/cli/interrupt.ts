import { EXIT } from '../errors.js';

/**
 * Ctrl-C and SIGTERM: the innermost command that asked handles the first one (following an agent
 * detaches; a run this process drives stops between steps, never inside a blackout window);
 * a second one, or one with no command asking, exits at once (130: the journal says where it stopped).
 */
const handlers: Array<() => void> = [];
let seen = 0;

export function onInterrupt(fn: () => void): () => void {
  handlers.push(fn);
  return () => void handlers.splice(handlers.indexOf(fn), 1);
}

export function interrupt(): void {
  const h = handlers.at(-1);
  if (h && seen++ === 0) h();
  else process.exit(EXIT.interrupted);
}

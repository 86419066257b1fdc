/**
 * The whole CLI as one file for hosts (dist/agent/liveupdate.mjs): `liveupdate run --agent` on the
 * host itself, with nothing there but what liveupdate put there.
 */
import { run } from '../cli/main.js';
import { interrupt } from '../cli/interrupt.js';

process.on('SIGINT', interrupt);
void run(process.argv.slice(2)).then((code) => process.exit(code));

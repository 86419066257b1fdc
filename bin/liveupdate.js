#!/usr/bin/env node
// The Node version the code needs (package.json engines) is checked before anything loads: an older
// Node would fail on syntax or a missing API, with a stack trace instead of a message.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 9)) {
  process.stderr.write(`error: liveupdate needs Node.js 20.9 or newer; this is v${process.versions.node} (${process.execPath})\nhint: Debian 12's own nodejs is 18: install Node 20 from NodeSource (node_20.x), nodejs.org, or Debian 13's nodejs\n`);
  process.exit(64);
}
await import('../dist/bundles/cli/liveupdate.js');

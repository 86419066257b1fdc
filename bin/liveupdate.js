#!/usr/bin/env node
// The Node version the code needs (package.json engines) is checked before anything loads: an older
// Node would fail on syntax or a missing API, with a stack trace instead of a message.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 9)) {
  process.stderr.write(`error: liveupdate needs Node.js 20.9 or newer; this is v${process.versions.node} (${process.execPath})\nhint: Debian 12's own nodejs is 18: install Node 20 from NodeSource (node_20.x), nodejs.org, or Debian 13's nodejs\n`);
  process.exit(64);
}

// The CLI is one CommonJS bundle (scripts/bundle.sh) whose commands and heavy dependencies are
// initialised only when a command needs them. It is compiled with V8's code cache the build made
// by running the CLI (liveupdate.cjs.cache): most of a start is otherwise parsing and compiling the
// code a command runs. A cache V8 refuses (another Node, other V8 flags) is ignored: the bundle is
// then compiled from source, only slower. LIVEUPDATE_CODE_CACHE=update (the build) writes the cache
// at exit with what this run compiled; =report says on stderr whether it was used; =off does not
// read it (bench:cli measures what it saves).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const bundle = fileURLToPath(new URL('../dist/bundles/cli/liveupdate.cjs', import.meta.url));
const cacheFile = `${bundle}.cache`;
const mode = process.env.LIVEUPDATE_CODE_CACHE;
function readCache() {
  if (mode === 'off') return undefined;
  try {
    return readFileSync(cacheFile);
  } catch {
    return undefined; // none yet (the build is making it) or not readable: compiled from source
  }
}
const cachedData = readCache();
const script = new Script(Module.wrap(readFileSync(bundle, 'utf8')), { filename: bundle, cachedData });
if (mode === 'report') process.stderr.write(`code cache: ${cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'used'}\n`);
if (mode === 'update') {
  process.on('exit', () => {
    writeFileSync(`${cacheFile}.tmp`, script.createCachedData());
    renameSync(`${cacheFile}.tmp`, cacheFile);
  });
}
const mod = { exports: {}, filename: bundle, id: bundle };
script.runInThisContext()(mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));

#!/bin/bash
# What liveupdate puts on a host, each one ES module with every dependency in it, run with the Node
# runtime liveupdate copies beside them: dist/agent/liveupdate-agent.mjs, the agent alone (it starts
# inside the blackout at boot: the less it loads the better), and dist/agent/liveupdate.mjs, the CLI.
# CommonJS dependencies (ssh2, ajv) get require/__dirname from the banner; native addons ssh2 only
# tries (cpu-features, sshcrypto.node) stay out: it falls back to Node's own crypto.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node_modules/.bin/esbuild liveupdate-agent=dist/src/agent/main.js liveupdate=dist/src/agent/cli.js --bundle --platform=node --format=esm --target=node20 \
  --outdir=dist/agent --out-extension:.js=.mjs --external:cpu-features '--external:*.node' --log-level=warning \
  --banner:js="import { createRequire as __luRequire } from 'node:module'; import { fileURLToPath as __luPath } from 'node:url'; const require = __luRequire(import.meta.url); const __filename = __luPath(import.meta.url); const __dirname = __luPath(new URL('.', import.meta.url));"

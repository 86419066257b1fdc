#!/bin/bash
# The CLI and the agent as bundles (esbuild, from tsc's output in dist/src):
# - dist/bundles/cli/: the CLI for this machine (bin/liveupdate.js), split so that a command's code
#   and its dependencies load when that command runs (`--version` loads commander and little else);
#   at the depth of dist/src/*/, so that paths the code finds from its own location still hold.
# - dist/agent/: what liveupdate puts on a host, each one ES module with every dependency in it, run
#   with the Node runtime liveupdate copies beside them: liveupdate-agent.cjs, the agent alone (it
#   starts inside the blackout at boot: the less it loads the better; CommonJS, so Node starts it
#   without its ES module loader), and liveupdate.mjs, the CLI.
# CommonJS dependencies (ssh2, the generated validators) get require/__dirname from the banner; native
# addons ssh2 only tries (cpu-features, sshcrypto.node) stay out: it falls back to Node's own crypto.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--bundle --platform=node --format=esm --target=node20 --external:cpu-features '--external:*.node' --log-level=warning
  --banner:js="import { createRequire as __luRequire } from 'node:module'; import { fileURLToPath as __luPath } from 'node:url'; const require = __luRequire(import.meta.url); const __filename = __luPath(import.meta.url); const __dirname = __luPath(new URL('.', import.meta.url));")
# whitespace and syntax minified (less to parse at every start; names kept for stack traces); what
# each chunk holds is in dist/bundles/cli.meta.json (test/integration/cli-start.test.ts reads it)
node_modules/.bin/esbuild liveupdate=dist/src/cli/bin.js --splitting --minify-whitespace --minify-syntax --metafile=dist/bundles/cli.meta.json --outdir=dist/bundles/cli "${common[@]}"
# the agent alone: its metafile says what it carries (no YAML parser, schema validator, SSH or CLI
# framework: test/integration/cli-start.test.ts); every KB of it is parsed inside the blackout at boot
node_modules/.bin/esbuild dist/src/agent/main.js --outfile=dist/agent/liveupdate-agent.cjs --bundle --platform=node --format=cjs --target=node20 \
  --minify-whitespace --minify-syntax --metafile=dist/bundles/agent.meta.json --log-level=warning \
  --define:import.meta.url=__luUrl --banner:js="const __luUrl = require('node:url').pathToFileURL(__filename).href;"
node_modules/.bin/esbuild liveupdate=dist/src/cli/bin.js --minify-whitespace --minify-syntax --outdir=dist/agent --out-extension:.js=.mjs "${common[@]}"

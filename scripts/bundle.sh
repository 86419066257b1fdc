#!/bin/bash
# The CLI and the agent as bundles (esbuild, from tsc's output in dist/src):
# - dist/bundles/cli/liveupdate.cjs: the CLI for this machine (bin/liveupdate.js), one CommonJS file
#   in which each command and its dependencies are initialised when that command runs (esbuild wraps
#   what is imported with import() in a lazy initialiser: `--version` runs commander and little else),
#   plus V8's code cache for it (liveupdate.cjs.cache, made below by running the CLI: bin/liveupdate.js
#   compiles the bundle with it). At the depth of dist/src/*/, so that paths the code finds from its
#   own location still hold.
# - dist/agent/: what liveupdate puts on a host, each one file with every dependency in it, run with
#   the Node runtime liveupdate copies beside them: liveupdate-agent.cjs, the agent alone (it starts
#   inside the blackout at boot: the less it loads the better), and liveupdate.mjs, the CLI.
# Native addons ssh2 only tries (cpu-features, sshcrypto.node) stay out: it falls back to Node's own crypto.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--bundle --platform=node --target=node20 --external:cpu-features '--external:*.node' --log-level=warning --minify-whitespace --minify-syntax)
# a CommonJS bundle that finds files from its own location: import.meta.url is its file's URL
cjs=(--format=cjs --define:import.meta.url=__luUrl "--banner:js=const __luUrl = require('node:url').pathToFileURL(__filename).href;")
# every bundle whitespace and syntax minified (less to parse; names kept for stack traces); what the
# CLI's bundle holds is in dist/bundles/cli.meta.json (test/integration/cli-start.test.ts reads it)
rm -rf dist/bundles/cli
node_modules/.bin/esbuild dist/src/cli/bin.js --outfile=dist/bundles/cli/liveupdate.cjs --metafile=dist/bundles/cli.meta.json "${common[@]}" "${cjs[@]}"
# the code cache: what V8 compiled while the CLI ran the commands operators and scripts run most
# (each run adds to it); nothing here touches a host: a plan from a saved facts file
for args in '--version' '--help' 'plan --help' 'validate profiles/seed-pkernfs.yaml' 'plan --profile profiles/seed-pkernfs.yaml --facts profiles/facts/seed-host.json'; do
  # shellcheck disable=SC2086 # the words of each command line
  LIVEUPDATE_CODE_CACHE=update node bin/liveupdate.js $args >/dev/null
done
# the agent alone: its metafile says what it carries (no YAML parser, schema validator, SSH or CLI
# framework: test/integration/cli-start.test.ts); every KB of it is parsed inside the blackout at boot
node_modules/.bin/esbuild dist/src/agent/main.js --outfile=dist/agent/liveupdate-agent.cjs --metafile=dist/bundles/agent.meta.json "${common[@]}" "${cjs[@]}"
# the CLI for hosts: an ES module, require/__dirname for its CommonJS dependencies from the banner
node_modules/.bin/esbuild liveupdate=dist/src/cli/bin.js --outdir=dist/agent --out-extension:.js=.mjs --format=esm "${common[@]}" \
  --banner:js="import { createRequire as __luRequire } from 'node:module'; import { fileURLToPath as __luPath } from 'node:url'; const require = __luRequire(import.meta.url); const __filename = __luPath(import.meta.url); const __dirname = __luPath(new URL('.', import.meta.url));"

#!/usr/bin/env bash
# `npm test`: installs what the tests need, brings up the local cloud, runs every test once.
set -euo pipefail
cd "$(dirname "$0")/.."
export NPM_CONFIG_LOGLEVEL=error
[ -x node_modules/.bin/mocha ] || npm ci --no-audit --no-fund
node_modules/.bin/tsc -p tsconfig.json
./devstack/local-cloud.sh up
exec node_modules/.bin/mocha --config test/mocharc.all.cjs

#!/usr/bin/env bash
# `npm test`: installs what the tests need, runs the unit tests first (no cloud needed), then
# brings up the local cloud of each OpenStack release in turn and runs the integration tests
# against it: all of them on the default release (zed), the lifecycle, moves, network, client
# (Heat, Horizon) and control-plane ones on 2025.1 (devstack/README.md). One cloud holds the
# ports at a time: each is stopped before the next comes up, the last one stays up.
set -uo pipefail
cd "$(dirname "$0")/.."
export NPM_CONFIG_LOGLEVEL=error
# each release's cloud in its default directory (devstack/local-cloud.sh)
unset LOCAL_CLOUD_DIR
[ -x node_modules/.bin/mocha ] || npm ci --no-audit --no-fund || exit 1
node_modules/.bin/tsc -p tsconfig.json || exit 1

# test/reporter.cjs appends each run's counts here; the sum is the one closing line CI reads
NC_TEST_COUNTS=$(mktemp)
export NC_TEST_COUNTS
rc=0
mocha_() { node_modules/.bin/mocha "$@" || rc=1; }

mocha_ --config test/mocharc.unit.cjs

# cloud_tests RELEASE SPEC...: that release's cloud up (the one before it down), then SPEC
cloud_tests() {
    local release=$1 dir=/opt/nova-container-cloud active
    shift
    [ "$release" = zed ] || dir=$dir-$release
    active=$(cat /run/nova-container-cloud.active 2>/dev/null || true)
    if [ -n "$active" ] && [ "$active" != "$dir" ]; then
        LOCAL_CLOUD_DIR=$active ./devstack/local-cloud.sh down || rc=1
    fi
    if ! OPENSTACK_RELEASE=$release ./devstack/local-cloud.sh up; then
        echo "the $release local cloud did not come up: its integration tests did not run" >&2
        rc=1
        return
    fi
    OPENSTACK_RELEASE=$release mocha_ --config test/mocharc.cloud.cjs --spec "$@"
}

cloud_tests zed 'dist/test/integration/**/*.test.js'
cloud_tests 2025.1 'dist/test/integration/'{lifecycle,moves,network,clients}'/*.test.js' \
    dist/test/integration/nova-driver/control-plane.test.js

awk '{ p += $1; f += $2; s += $3 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$NC_TEST_COUNTS"
rm -f "$NC_TEST_COUNTS"
exit $rc

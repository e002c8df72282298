#!/usr/bin/env bash
# `npm test`: installs what the tests need, runs the unit tests first (no cloud needed), then
# brings up the local cloud of each OpenStack release in turn and runs the integration tests
# against it: all of them on the default release (2025.1), the lifecycle, moves, network,
# client (Heat, Horizon) and control-plane ones on zed (devstack/README.md). One cloud holds the
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

# release_cloud_dir, ACTIVE_CLOUD_FILE
. devstack/lib/cloud-dir.sh

# cloud_up RELEASE: that release's cloud up, the other one stopped first
cloud_up() {
    local release=$1 dir active
    dir=$(release_cloud_dir "$release")
    active=$(cat "$ACTIVE_CLOUD_FILE" 2>/dev/null || true)
    if [ -n "$active" ] && [ "$active" != "$dir" ]; then
        LOCAL_CLOUD_DIR=$active ./devstack/local-cloud.sh down || rc=1
    fi
    OPENSTACK_RELEASE=$release ./devstack/local-cloud.sh up && return 0
    echo "the $release local cloud did not come up: its integration tests did not run" >&2
    rc=1
    return 1
}

# prepare RELEASE: that release's packages installed while the other release's tests run (no
# port needed)
prepare() {
    local log
    log=$(mktemp)
    OPENSTACK_RELEASE=$1 ./devstack/local-cloud.sh prepare >"$log" 2>&1 ||
        echo "preparing $1 failed (its up tries again): $(tail -n 3 "$log")" >&2
    rm -f "$log"
}

if cloud_up 2025.1; then
    prepare zed &
    OPENSTACK_RELEASE=2025.1 mocha_ --config test/mocharc.cloud.cjs --spec 'dist/test/integration/**/*.test.js'
    wait
fi
if cloud_up zed; then
    OPENSTACK_RELEASE=zed mocha_ --config test/mocharc.cloud.cjs \
        --spec 'dist/test/integration/'{lifecycle,moves,network,clients}'/*.test.js' \
        dist/test/integration/nova-driver/control-plane.test.js
fi

awk '{ p += $1; f += $2; s += $3 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$NC_TEST_COUNTS"
rm -f "$NC_TEST_COUNTS"
exit $rc

#!/usr/bin/env bash
# `npm test`: installs what the tests need, runs the unit tests (no cloud needed), brings up
# the local cloud of each OpenStack release in turn and runs the integration tests
# against it: all of them on the default release (2025.1) with its default engine (trixie's
# podman) but those of dockerd's own setup (DOCKER_SPECS: the devstack plugin); then, on zed
# with dockerd, its default engine, those and the ones whose path through OpenStack differs by
# release or whose path through the engine differs by engine (ZED_DOCKER_SPECS: lifecycle
# actions, images at boot, images in and out of the engine, serial consoles, a crash mid-build,
# isolation, moves, the Linux bridge network and its recovery, the control plane, Heat,
# Horizon), not those whose path is the same on both (messaging, registration, version choice,
# the engine listing, operator endpoints), which would run the same code the same way twice. One cloud holds the ports at a time: each is stopped before the
# next comes up, the last one stays up. The unit tests run while the first cloud comes up, the
# tests that need no cloud (the OVS and OVN plugs on switches they start, the podman engine on
# a podman service of its own (bookworm's), a full root disk's limit on a btrfs store of its own) while the second one comes up and its shared tests run; the output of
# each follows. On each
# cloud the tests that can share it run in two streams at once (SHARED_A, SHARED_B), then the
# others one at a time.
set -uo pipefail
cd "$(dirname "$0")/.."
export NPM_CONFIG_LOGLEVEL=error
# each release's cloud in its default directory (devstack/local-cloud.sh)
unset LOCAL_CLOUD_DIR
[ -x node_modules/.bin/mocha ] || npm ci --no-audit --no-fund || exit 1
node_modules/.bin/tsc -p tsconfig.json || exit 1

# test/reporter.cjs appends each run's counts here (the sum is the one closing line CI reads) and
# the titles of the tests that failed there (printed just before it)
NC_TEST_COUNTS=$(mktemp)
NC_TEST_FAILURES=$(mktemp)
export NC_TEST_COUNTS NC_TEST_FAILURES
rc=0
mocha_() { node_modules/.bin/mocha "$@" || rc=1; }

# release_cloud_dir, ACTIVE_CLOUD_FILE
. devstack/lib/cloud-dir.sh

# cloud_up RELEASE ENGINE [HOSTS]: that release's cloud on that engine, with HOSTS compute hosts
# (default 1), up; the other one stopped first
cloud_up() {
    local release=$1 engine=$2 hosts=${3:-1} dir active
    dir=$(release_cloud_dir "$release" "$engine")
    active=$(cat "$ACTIVE_CLOUD_FILE" 2>/dev/null || true)
    if [ -n "$active" ] && [ "$active" != "$dir" ]; then
        LOCAL_CLOUD_DIR=$active ./devstack/local-cloud.sh down || rc=1
    fi
    OPENSTACK_RELEASE=$release CONTAINER_ENGINE=$engine COMPUTE_HOSTS=$hosts ./devstack/local-cloud.sh up && return 0
    echo "the $release local cloud on $engine did not come up: its integration tests did not run" >&2
    rc=1
    return 1
}

# prepare RELEASE ENGINE: that release's packages installed while the other release's tests
# run (no port needed)
prepare() {
    local log
    log=$(mktemp)
    OPENSTACK_RELEASE=$1 CONTAINER_ENGINE=$2 ./devstack/local-cloud.sh prepare >"$log" 2>&1 ||
        echo "preparing $1 failed (its up tries again): $(tail -n 3 "$log")" >&2
    rm -f "$log"
}

# in the background: exits 1 when the cloud did not come up, 2 when it did but stopping the other
# one failed (rc is the subshell's own)
up_log=$(mktemp)
# both clouds with a second compute host, for the tests that move servers between hosts
( cloud_up 2025.1 podman 2 || exit 1; [ "$rc" = 0 ] || exit 2 ) >"$up_log" 2>&1 &
up_pid=$!
# beside the cloud's start a test that runs bash or node takes several times its usual time
mocha_ --config test/mocharc.unit.cjs --timeout 60000
wait "$up_pid"
up_status=$?
cat "$up_log"
rm -f "$up_log"
[ "$up_status" = 0 ] || rc=1

# the devstack plugin configures and uses a dockerd
DOCKER_SPECS=(dist/test/integration/devstack/plugin.test.js)

ZED_DOCKER_SPECS=("${DOCKER_SPECS[@]}" dist/test/integration/lifecycle/*.test.js
    dist/test/integration/glance-bridge/import-export.test.js
    dist/test/integration/runtime/serial-consoles.test.js
    dist/test/integration/moves/*.test.js
    dist/test/integration/network/{linux-bridge-plug,neutron-client,recovery-and-dns,sandbox,servers-on-private,vif-plugging-fatal}.test.js
    dist/test/integration/clients/*.test.js
    dist/test/integration/nova-driver/control-plane.test.js)

# tests that need no cloud (engines and switches they start themselves): they run while the
# second cloud comes up and its shared tests run
CLOUD_FREE_SPECS=(dist/test/integration/network/{ovs-plug,ovs-plug-ovn}.test.js dist/test/integration/runtime/{podman-engine,btrfs-root-disk}.test.js)

# Tests that share a cloud with another test at once: each checks only what it made (servers,
# containers, devices, a vhost of its own) and restarts nothing. Left out, to run alone: those
# that restart or kill a service or the engine, start a compute host of their own (the scheduler
# would put the other stream's servers there), check the engine's temp dir, image list or a
# host's total usage or free disk, or time a write against an unthrottled one (isolation).
# The messaging tests share one vhost (test/helpers/rabbitmq.ts), so they are in one stream.
# On zed, Horizon moves to the second stream (below).
SHARED_A=(dist/test/integration/clients/{heat,horizon}.test.js
    dist/test/integration/moves/snapshot-rebuild-resize-shelve.test.js
    dist/test/integration/lifecycle/create.test.js
    dist/test/integration/network/linux-bridge-plug.test.js
    dist/test/integration/runtime/engine-listing.test.js)
SHARED_B=(dist/test/integration/lifecycle/power.test.js
    dist/test/integration/network/{sandbox,servers-on-private,neutron-client}.test.js
    dist/test/integration/runtime/serial-consoles.test.js
    dist/test/integration/rpc/*.test.js
    dist/test/integration/nova-driver/version-choice.test.js)

# a spec that names no file would drop out of the run with only mocha's warning
for f in "${ZED_DOCKER_SPECS[@]}" "${CLOUD_FREE_SPECS[@]}" "${SHARED_A[@]}" "${SHARED_B[@]}"; do
    [ -f "$f" ] || { echo "test/run-all.sh names $f, which does not exist" >&2; rc=1; }
done

# listed FILE ARRAY_ITEMS...: whether FILE is one of them
listed() { local f=$1; shift; [[ " $* " == *" $f "* ]]; }

# run_specs SPEC...: against the cloud that is up, those of SHARED_A and those of SHARED_B in two
# mocha runs at once (the second one's output follows the first's), then the others in one run
run_specs() {
    local a=() b=() alone=() f b_log b_pid=
    for f in "$@"; do
        if listed "$f" "${SHARED_A[@]}"; then a+=("$f")
        elif listed "$f" "${SHARED_B[@]}"; then b+=("$f")
        else alone+=("$f"); fi
    done
    b_log=$(mktemp)
    if [ ${#b[@]} -gt 0 ]; then
        node_modules/.bin/mocha --config test/mocharc.cloud.cjs --spec "${b[@]}" >"$b_log" 2>&1 &
        b_pid=$!
    fi
    [ ${#a[@]} = 0 ] || mocha_ --config test/mocharc.cloud.cjs --spec "${a[@]}"
    if [ -n "${b_pid:-}" ]; then
        wait "$b_pid" || rc=1
        cat "$b_log"
    fi
    rm -f "$b_log"
    # whatever else still runs ends first: these run with nothing beside them
    [ -z "${BEFORE_ALONE:-}" ] || "$BEFORE_ALONE"
    [ ${#alone[@]} = 0 ] || mocha_ --config test/mocharc.cloud.cjs --spec "${alone[@]}"
}

if [ "$up_status" != 1 ]; then
    prepare zed docker &
    # the kill test's rounds that kill while ports are made and bound, a server spawns, or two
    # are ACTIVE; the zed leg's the others and the spawn (each leg sees builds finish and cut short)
    all=()
    for f in dist/test/integration/*/*.test.js; do
        listed "$f" "${CLOUD_FREE_SPECS[@]}" "${DOCKER_SPECS[@]}" || all+=("$f")
    done
    OPENSTACK_RELEASE=2025.1 CONTAINER_ENGINE=podman NC_KILL_ROUNDS=1,2,4 run_specs "${all[@]}"
    wait
fi
# the tests that need no cloud run while the zed cloud comes up and its shared tests run
free_log=$(mktemp)
node_modules/.bin/mocha --config test/mocharc.cloud.cjs --spec "${CLOUD_FREE_SPECS[@]}" >"$free_log" 2>&1 &
free_pid=$!
cloud_free_done() {
    [ -n "$free_pid" ] || return 0
    wait "$free_pid" || rc=1
    free_pid=
    cat "$free_log"
    rm -f "$free_log"
}
if cloud_up zed docker 2; then
    # Without the messaging and version tests, which run on 2025.1 only, the second stream is
    # the shorter one here: Horizon runs in it.
    a=()
    for f in "${SHARED_A[@]}"; do
        if [[ $f == */horizon.test.js ]]; then SHARED_B+=("$f"); else a+=("$f"); fi
    done
    SHARED_A=("${a[@]}")
    # the kill test's rounds that kill at once, while a server spawns, or when one is ACTIVE
    OPENSTACK_RELEASE=zed CONTAINER_ENGINE=docker NC_KILL_ROUNDS=0,2,3 BEFORE_ALONE=cloud_free_done run_specs "${ZED_DOCKER_SPECS[@]}"
fi
cloud_free_done

cat "$NC_TEST_FAILURES"
rm -f "$NC_TEST_FAILURES"
awk '{ p += $1; f += $2; s += $3 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$NC_TEST_COUNTS"
rm -f "$NC_TEST_COUNTS"
exit $rc

# The container engine Docker (Debian's docker.io), CONTAINER_ENGINE=docker.
#
# The first part is shared with the devstack plugin (devstack/plugin.sh sources this file
# without lib/common.sh): functions only, nothing set or run when sourced. The second part is
# the local cloud's dockerd (needs lib/common.sh, skipped without it, and lib/btrfs_store.sh),
# as the local cloud's engine (ENGINE_DAEMON, ENGINE_SOCKET, configure_engine, start_engine,
# wait_engine, stop_engine; lib/podman.sh is the other): its own socket, data root, exec root
# and pidfile under the state dir (never /var/run/docker.sock), --live-restore so containers
# survive a restart of the engine.

# docker_ping, docker_wait, wait_engine (lib/engine_api.sh)
# shellcheck source=lib/engine_api.sh
. "$(dirname "${BASH_SOURCE[0]}")/engine_api.sh"

# docker_daemon_json BASE [KEY=JSON...]: prints a daemon.json: the object in file BASE (none:
# an empty one) with each KEY set to the JSON value (e.g. live-restore=true). Without BASE
# content and keys: `{}`. Merging needs python3; the result is the same for the same input, so
# a caller can compare it with what is on disk and restart dockerd only on a change.
docker_daemon_json() {
    local base=$1
    shift
    if { [ -z "$base" ] || [ ! -s "$base" ]; } && [ $# -eq 0 ]; then
        echo '{}'
        return 0
    fi
    python3 - "$base" "$@" <<'PY_'
import json, sys
base, pairs = sys.argv[1], sys.argv[2:]
conf = {}
if base:
    try:
        with open(base) as f:
            text = f.read()
        conf = json.loads(text) if text.strip() else {}
    except FileNotFoundError:
        pass
if not isinstance(conf, dict):
    sys.exit(base + ": not a JSON object")
for pair in pairs:
    key, _, value = pair.partition("=")
    conf[key] = json.loads(value)
print(json.dumps(conf, indent=2, sort_keys=True))
PY_
}

# ---------------------------------------------------------------- the local cloud's part
declare -F start_daemon >/dev/null || return 0

# engine_instance N: the engine of compute host N (1: the cloud's own; 2 and up: the hosts
# lib/compute_hosts.sh adds, each with a dockerd, a store and a daemon.json of its own). The
# data root is the btrfs store (lib/btrfs_store.sh) in DOCKER_DISK_IMG. With DOCKER_USERNS=yes,
# --userns-remap=default: root in a container is one of dockremap's unprivileged subordinate
# ids on the host.
engine_instance() {
    local n=${1:-1}
    ENGINE_DAEMON=dockerd
    DOCKER_DIR=$LOCAL_CLOUD_DIR/docker
    DOCKER_JSON=$ETC_DIR/docker/daemon.json
    DOCKER_NETNS=()
    if [ "$n" != 1 ]; then
        ENGINE_DAEMON=dockerd-$n
        DOCKER_DIR=$LOCAL_CLOUD_DIR/host$n/docker
        DOCKER_JSON=$ETC_DIR/host$n/docker/daemon.json
        # in the compute host's network namespace (nsenter --net only: /sys and its cgroups stay
        # the machine's), since a dockerd without a bridge deletes any docker0 it sees, which in
        # the machine's namespace was the first dockerd's
        DOCKER_NETNS=(nsenter "--net=/run/netns/$(compute_host_netns "$n")")
    fi
    ENGINE_SOCKET=$DOCKER_DIR/docker.sock
    DOCKER_DATA_ROOT=$DOCKER_DIR/btrfs
    DOCKER_DISK_IMG=$DOCKER_DIR/btrfs.img
    DAEMON_CONFIGS[$ENGINE_DAEMON]=$DOCKER_JSON
}
engine_instance 1

configure_engine() {
    mkdir -p "$DOCKER_DIR" "$DOCKER_DATA_ROOT" "$DOCKER_DIR/exec"
    chmod 711 "$DOCKER_DIR"
    mount_btrfs_store "$DOCKER_DISK_IMG" "$DOCKER_DATA_ROOT" "$DOCKER_DISK_GB"
    # a daemon.json of our own: /etc/docker/daemon.json must not apply
    local opts=(storage-driver='"btrfs"')
    [ "$DOCKER_USERNS" != yes ] || opts+=(userns-remap='"default"')
    # the first dockerd's docker0 and iptables chains are the machine's: no other one touches them
    # (instances have no network of Docker's)
    [ "$ENGINE_DAEMON" = dockerd ] || opts+=(bridge='"none"' iptables=false)
    docker_daemon_json "" "${opts[@]}" | write_file "$DOCKER_JSON" 644 || true
}

start_engine() {
    [ "$DOCKER_USERNS" != yes ] || raise_key_quota
    daemon_running "$ENGINE_DAEMON" || simple_quota_on "$DOCKER_DATA_ROOT"
    start_daemon "$ENGINE_DAEMON" "$ENGINE_SOCKET" "${DOCKER_NETNS[@]}" /usr/sbin/dockerd \
        --host "unix://$ENGINE_SOCKET" \
        --data-root "$DOCKER_DATA_ROOT" \
        --exec-root "$DOCKER_DIR/exec" \
        --pidfile "$DOCKER_DIR/dockerd.pid" \
        --config-file "$DOCKER_JSON" \
        --live-restore \
        ${DOCKERD_EXTRA_ARGS:-}
}

# Containers keep running (--live-restore); dockerd stops its own containerd.
stop_engine() { stop_daemon "$ENGINE_DAEMON" 60; }

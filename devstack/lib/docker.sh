# The container engine (Docker Engine API, Debian's docker.io).
#
# The first part is shared with the devstack plugin (devstack/plugin.sh sources this file
# without lib/common.sh): functions only, nothing set or run when sourced. The second part is
# the local cloud's dockerd (needs lib/common.sh; skipped without it): its own socket, data
# root, exec root and pidfile under the state dir (never /var/run/docker.sock), --live-restore
# so containers survive a restart of the engine.

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

# docker_ping SOCKET: the engine at unix socket path SOCKET answers /_ping. curl runs as
# `$DOCKER_API_SUDO curl` (empty by default; the devstack plugin, which runs as the stack user,
# sets sudo: the socket is root's)
docker_ping() {
    [ "$(${DOCKER_API_SUDO:-} curl -s --max-time 2 --unix-socket "$1" http://localhost/_ping 2>/dev/null)" = OK ]
}

# docker_wait SOCKET TIMEOUT [ALIVE_CMD...]: until the engine answers (0); 1 after TIMEOUT
# seconds; 2 as soon as ALIVE_CMD (e.g. a check that dockerd still runs) fails
docker_wait() {
    local socket=$1 timeout=$2 i
    shift 2
    for ((i = 0; i < timeout * 10; i++)); do
        docker_ping "$socket" && return 0
        if [ $# -gt 0 ] && ! "$@"; then return 2; fi
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- the local cloud's part
declare -F start_daemon >/dev/null || return 0

DOCKER_DIR=$LOCAL_CLOUD_DIR/docker
DOCKER_SOCKET=$DOCKER_DIR/docker.sock
DOCKER_DATA_ROOT=$DOCKER_DIR/data
DAEMON_CONFIGS[dockerd]=$ETC_DIR/docker/daemon.json

# docker_ CMD...: the docker CLI against our engine
docker_() { docker -H "unix://$DOCKER_SOCKET" "$@"; }

configure_docker() {
    mkdir -p "$DOCKER_DIR" "$DOCKER_DATA_ROOT" "$DOCKER_DIR/exec"
    chmod 711 "$DOCKER_DIR"
    # an empty daemon.json of our own: /etc/docker/daemon.json must not apply
    docker_daemon_json "" | write_file "$ETC_DIR/docker/daemon.json" 644 || true
}

start_docker() {
    start_daemon dockerd "$DOCKER_SOCKET" /usr/sbin/dockerd \
        --host "unix://$DOCKER_SOCKET" \
        --data-root "$DOCKER_DATA_ROOT" \
        --exec-root "$DOCKER_DIR/exec" \
        --pidfile "$DOCKER_DIR/dockerd.pid" \
        --config-file "$ETC_DIR/docker/daemon.json" \
        --live-restore \
        ${DOCKERD_EXTRA_ARGS:-}
}

wait_docker() {
    local rc=0
    docker_wait "$DOCKER_SOCKET" 60 daemon_running dockerd || rc=$?
    case $rc in
        0) ;;
        2) tail -n 20 "$LOG_DIR/dockerd.log" >&2; die "dockerd exited (log: $LOG_DIR/dockerd.log)" ;;
        *) die "dockerd does not answer on $DOCKER_SOCKET after 60s (log: $LOG_DIR/dockerd.log)" ;;
    esac
}

# Containers keep running (--live-restore); dockerd stops its own containerd.
stop_docker() { stop_daemon dockerd 60; }

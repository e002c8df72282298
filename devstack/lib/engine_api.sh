# The engine's Docker-compatible API, whichever engine serves it (dockerd, podman system
# service): functions only, shared by lib/docker.sh (and so the devstack plugin) and lib/podman.sh.

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

# wait_engine: the local cloud's engine daemon ($ENGINE_DAEMON, started by start_engine of
# lib/docker.sh or lib/podman.sh) answers on $ENGINE_SOCKET; stops `up` with its log when it
# exited or did not answer within 60 s (daemon_running, die and LOG_DIR of lib/common.sh)
wait_engine() {
    local rc=0 log=$LOG_DIR/$ENGINE_DAEMON.log
    docker_wait "$ENGINE_SOCKET" 60 daemon_running "$ENGINE_DAEMON" || rc=$?
    case $rc in
        0) ;;
        2) tail -n 20 "$log" >&2; die "$ENGINE_DAEMON exited (log: $log)" ;;
        *) die "$ENGINE_DAEMON does not answer on $ENGINE_SOCKET after 60s (log: $log)" ;;
    esac
}

# The container engine: Debian's dockerd with its own socket, data root, exec root and pidfile
# under the state dir (never /var/run/docker.sock), --live-restore so containers survive a
# restart of the engine.

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
    write_file "$ETC_DIR/docker/daemon.json" 644 <<<'{}' || true
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
    local i
    for ((i = 0; i < 600; i++)); do
        [ "$(curl -s --max-time 2 --unix-socket "$DOCKER_SOCKET" http://localhost/_ping 2>/dev/null)" = OK ] && return 0
        daemon_running dockerd || { tail -n 20 "$LOG_DIR/dockerd.log" >&2; die "dockerd exited (log: $LOG_DIR/dockerd.log)"; }
        sleep 0.1
    done
    die "dockerd does not answer on $DOCKER_SOCKET after 60s (log: $LOG_DIR/dockerd.log)"
}

# Containers keep running (--live-restore); dockerd stops its own containerd.
stop_docker() { stop_daemon dockerd 60; }

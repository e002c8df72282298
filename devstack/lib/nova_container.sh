# nova-container, the compute host of the local cloud, built from this checkout.

: "${NODE:=node}"
: "${COMPUTE_WAIT_TIMEOUT:=60}"
# /healthz and /metrics of the local cloud's compute host (loopback only; empty: off)
: "${NOVA_CONTAINER_HEALTH_LISTEN:=127.0.0.1:8779}"
NOVA_CONTAINER_CONF=$ETC_DIR/nova-container.conf
NOVA_CONTAINER_LOG=$LOG_DIR/nova-container.log
DAEMON_CONFIGS[nova-container]=$NOVA_CONTAINER_CONF
DAEMON_STOP_MODE[nova-container]=group

# build_nova_container: npm ci when node_modules is missing, tsc when dist/ is missing or older
# than src/
build_nova_container() {
    local repo=$LOCAL_CLOUD_REPO
    command -v "$NODE" >/dev/null || die "Node.js 20 ($NODE) is needed to run nova-container (not from Debian's packages here)"
    [ -f "$repo/package.json" ] || die "no package.json in $repo"
    if [ ! -d "$repo/node_modules" ]; then
        log "npm ci in $repo"
        (cd "$repo" && npm ci --no-audit --no-fund) >>"$LOG_DIR/build.log" 2>&1 ||
            die "npm ci failed (log: $LOG_DIR/build.log)"
    fi
    local cli=$repo/dist/src/cli.js
    if [ ! -f "$cli" ] || [ -n "$(find "$repo/src" "$repo/tsconfig.json" -newer "$cli" -type f -print -quit)" ]; then
        log "compiling nova-container (tsc)"
        if ! (cd "$repo" && node_modules/.bin/tsc -p tsconfig.json) >>"$LOG_DIR/build.log" 2>&1; then
            [ -f "$cli" ] || die "tsc failed and $cli is missing (log: $LOG_DIR/build.log)"
            log "WARNING: tsc reported errors, running the JavaScript it emitted (log: $LOG_DIR/build.log)"
        fi
    fi
}

configure_nova_container() {
    mkdir -p "$LOCAL_CLOUD_DIR/nova-container"
    {
        cat <<EOF2
# nova-container, compute host of the local cloud (written by devstack/local-cloud.sh).
# No database URL here: a compute host talks to the database through nova-conductor only.
[DEFAULT]
transport_url = $TRANSPORT_URL
host = $COMPUTE_HOST
my_ip = $SERVICE_HOST
control_exchange = nova
report_interval = 5
state_path = $LOCAL_CLOUD_DIR/nova-container

EOF2
        service_credentials placement placement
        echo "valid_interfaces = public"
        echo
        service_credentials glance glance
        echo "valid_interfaces = public"
        echo
        service_credentials neutron neutron
        echo "valid_interfaces = public"
        cat <<EOF2

[filter_scheduler]
track_instance_changes = true

[container]
engine_socket = unix://$DOCKER_SOCKET
health_listen = $NOVA_CONTAINER_HEALTH_LISTEN
EOF2
    } | write_file "$NOVA_CONTAINER_CONF" || true
}

NOVA_CONTAINER_CMD=("$NODE" "$LOCAL_CLOUD_REPO/dist/src/cli.js" --config-file "$NOVA_CONTAINER_CONF")

start_nova_container() { start_daemon nova-container "dist/src/cli.js" "${NOVA_CONTAINER_CMD[@]}"; }

# start_compute_host: (re)starts nova-container unless it runs with the current config, waits
# until it registered and heartbeats, maps it into cell1. Builds only when it must start.
start_compute_host() {
    local since
    if daemon_current nova-container "${NOVA_CONTAINER_CMD[@]}"; then
        host_mapped "$COMPUTE_HOST" || wait_for_compute "$COMPUTE_HOST" '1970-01-01 00:00:00'
        return 0
    fi
    build_nova_container
    stop_nova_container
    since=$(mysql_ -N -e 'SELECT UTC_TIMESTAMP()')
    start_nova_container
    wait_for_compute "$COMPUTE_HOST" "$since"
    # what the API reports (the same check as `openstack compute service list`)
    log "compute service: $(admin_env "$OPENSTACK" compute service list --service nova-compute \
        --host "$COMPUTE_HOST" -f value -c Host -c State -c Status 2>&1 | tr '\n' ' ')"
}

stop_nova_container() { stop_daemon nova-container 30 group; }

# compute_heartbeat_since HOST TS: the nova-compute service of HOST reported at or after TS (UTC)
compute_heartbeat_since() {
    [ "$(mysql_ -N -e "SELECT COUNT(*) FROM nova.services s JOIN nova.compute_nodes c ON c.host = s.host AND c.deleted = 0 WHERE s.host = '$1' AND s.\`binary\` = 'nova-compute' AND s.deleted = 0 AND s.last_seen_up >= '$2'" 2>/dev/null)" -gt 0 ] 2>/dev/null
}

# wait_for_compute HOST SINCE: until the host registered (service + compute node rows) and
# heartbeated after SINCE; then maps it into cell1.
wait_for_compute() {
    local host=$1 since=$2 i
    log "waiting for compute host $host to register (up to ${COMPUTE_WAIT_TIMEOUT}s)"
    for ((i = 0; i < COMPUTE_WAIT_TIMEOUT * 2; i++)); do
        compute_heartbeat_since "$host" "$since" && break
        if ! daemon_running nova-container; then
            tail -n 10 "$NOVA_CONTAINER_LOG" >&2 || true
            die "nova-container exited before registering (log: $NOVA_CONTAINER_LOG)"
        fi
        sleep 0.5
    done
    compute_heartbeat_since "$host" "$since" ||
        die "compute host $host did not register with nova within ${COMPUTE_WAIT_TIMEOUT}s (no nova-compute service/compute node heartbeat); see $NOVA_CONTAINER_LOG"
    if ! host_mapped "$host"; then
        log "mapping $host into cell1 (nova-manage cell_v2 discover_hosts)"
        discover_hosts
        host_mapped "$host" || die "discover_hosts did not map $host (log: $LOG_DIR/nova-manage.log)"
    fi
}

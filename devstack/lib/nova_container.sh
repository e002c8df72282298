# nova-container: its build and configuration, and the local cloud's compute host.
#
# The first part is shared with the devstack plugin (devstack/plugin.sh sources this file
# without lib/common.sh, inside stack.sh): functions, everything they need passed as arguments,
# and one constant (NOVA_CONTAINER_CONF_KEYS); no other variable is set when the file is sourced.
# The second part is the local cloud's own and needs lib/common.sh (its daemon helpers); sourced
# without them, it is skipped.

# nova_container_say MESSAGE: the local cloud's log line when there is one, else stderr
nova_container_say() {
    if declare -F log >/dev/null; then log "$*"; else printf 'nova-container: %s\n' "$*" >&2; fi
}

# nova_container_output LOG CMD...: CMD with stdout and stderr appended to LOG (to stdout
# when LOG is empty)
nova_container_output() {
    local out=$1
    shift
    if [ -n "$out" ]; then "$@" >>"$out" 2>&1; else "$@" 2>&1; fi
}

# nova_container_build REPO NODE [BUILD_LOG]: `npm ci` when REPO/node_modules is missing, `tsc`
# when dist/src/cli.js is missing or older than src/ or tsconfig.json. NODE is the node binary
# (a name in PATH or a path; npm and tsc then find the node next to it first). Their output is
# appended to BUILD_LOG, or goes to stdout without one. Returns 1 with the reason in
# NOVA_CONTAINER_ERROR when there is nothing to run (a tsc error that still emitted
# dist/src/cli.js is only a warning).
nova_container_build() {
    local repo=$1 node=$2 build_log=${3:-} cli=$1/dist/src/cli.js path=$PATH
    local in_log=${3:+ (log: $3)}
    NOVA_CONTAINER_ERROR=
    command -v "$node" >/dev/null ||
        { NOVA_CONTAINER_ERROR="Node.js 20 ($node) is needed to run nova-container"; return 1; }
    [[ "$node" != */* ]] || path=$(dirname "$node"):$PATH
    [ -f "$repo/package.json" ] || { NOVA_CONTAINER_ERROR="no package.json in $repo"; return 1; }
    if [ ! -d "$repo/node_modules" ]; then
        nova_container_say "npm ci in $repo"
        nova_container_output "$build_log" env -C "$repo" PATH="$path" npm ci --no-audit --no-fund ||
            { NOVA_CONTAINER_ERROR="npm ci failed$in_log"; return 1; }
    fi
    if [ ! -f "$cli" ] || [ -n "$(find "$repo/src" "$repo/tsconfig.json" -newer "$cli" -type f -print -quit)" ]; then
        nova_container_say "compiling nova-container (tsc)"
        if ! nova_container_output "$build_log" env -C "$repo" PATH="$path" node_modules/.bin/tsc -p tsconfig.json; then
            [ -f "$cli" ] || { NOVA_CONTAINER_ERROR="tsc failed and $cli is missing$in_log"; return 1; }
            nova_container_say "WARNING: tsc reported errors, running the JavaScript it emitted$in_log"
        fi
    fi
}

# The options nova_container_conf writes, in file order: SECTION.KEY
NOVA_CONTAINER_CONF_KEYS=(
    DEFAULT.transport_url DEFAULT.host DEFAULT.my_ip DEFAULT.control_exchange
    DEFAULT.report_interval DEFAULT.instance_delete_interval DEFAULT.state_path DEFAULT.debug
)
for _nc_section in placement glance neutron; do
    for _nc_key in auth_type auth_url username password project_name user_domain_name \
        project_domain_name region_name valid_interfaces; do
        NOVA_CONTAINER_CONF_KEYS+=("$_nc_section.$_nc_key")
    done
done
unset _nc_section _nc_key
NOVA_CONTAINER_CONF_KEYS+=(filter_scheduler.track_instance_changes container.driver container.engine_socket
    container.podman_userns_remap container.health_listen container.enforce_root_disk oslo_messaging_rabbit.rabbit_quorum_queue
    os_vif_ovs.ovsdb_connection serial_console.enabled serial_console.port_range serial_console.base_url
    serial_console.proxyclient_address)

# nova_container_conf ARRAY: prints a nova-container config file from the associative array
# named ARRAY: [header] (comment text, first), then every SECTION.KEY of
# NOVA_CONTAINER_CONF_KEYS that is set in ARRAY (set and empty gives `key = `), sections
# separated by a blank line. Never a database URL: a compute host reaches the database through
# nova-conductor only.
nova_container_conf() {
    local -n _nc_conf_ref=$1
    local entry section prev=""
    [ -z "${_nc_conf_ref[header]:-}" ] || printf '%s\n' "${_nc_conf_ref[header]}"
    for entry in "${NOVA_CONTAINER_CONF_KEYS[@]}"; do
        [ -n "${_nc_conf_ref[$entry]+set}" ] || continue
        section=${entry%%.*}
        if [ "$section" != "$prev" ]; then
            [ -z "$prev" ] || echo
            echo "[$section]"
            prev=$section
        fi
        printf '%s = %s\n' "${entry#*.}" "${_nc_conf_ref[$entry]}"
    done
}

# nova_container_conf_auth ARRAY SECTION AUTH_URL USERNAME PASSWORD PROJECT USER_DOMAIN
#     PROJECT_DOMAIN REGION INTERFACES: a keystoneauth password block in ARRAY (an empty REGION
#     or INTERFACES leaves that key out)
nova_container_conf_auth() {
    local -n _nc_auth_ref=$1
    local s=$2
    _nc_auth_ref[$s.auth_type]=password
    _nc_auth_ref[$s.auth_url]=$3
    _nc_auth_ref[$s.username]=$4
    _nc_auth_ref[$s.password]=$5
    _nc_auth_ref[$s.project_name]=$6
    _nc_auth_ref[$s.user_domain_name]=$7
    _nc_auth_ref[$s.project_domain_name]=$8
    [ -z "$9" ] || _nc_auth_ref[$s.region_name]=$9
    [ -z "${10}" ] || _nc_auth_ref[$s.valid_interfaces]=${10}
}

# ---------------------------------------------------------------- the local cloud's part
declare -F start_daemon >/dev/null || return 0

: "${NODE:=node}"
: "${COMPUTE_WAIT_TIMEOUT:=60}"
# a nova-container that runs but has not reported for this long is hung: up restarts it (it
# reports every 5 s; the control plane calls it down after 20 s)
: "${COMPUTE_STALE_AFTER:=60}"
# /healthz and /metrics of the local cloud's compute host (loopback only; empty: off)
: "${NOVA_CONTAINER_HEALTH_LISTEN:=127.0.0.1:8779}"

# compute_state_dir N: nova-container's state_path on compute host N (where its engine module
# keeps files of its own too: src/runtime/engines.ts)
compute_state_dir() {
    if [ "${1:-1}" = 1 ]; then echo "$LOCAL_CLOUD_DIR/nova-container"; else echo "$LOCAL_CLOUD_DIR/host$1/nova-container"; fi
}

# compute_instance N: nova-container of compute host N (1: the cloud's own, $COMPUTE_HOST; 2 and
# up: the hosts lib/compute_hosts.sh adds, $COMPUTE_HOST-N, each in its network namespace with
# its own engine, state and configuration). The engine of the same host is engine_instance N's.
compute_instance() {
    local n=${1:-1}
    NOVA_CONTAINER_DAEMON=nova-container
    NOVA_CONTAINER_CONF=$ETC_DIR/nova-container.conf
    NOVA_CONTAINER_STATE=$(compute_state_dir "$n")
    THIS_COMPUTE_HOST=$COMPUTE_HOST
    local netns=()
    if [ "$n" != 1 ]; then
        NOVA_CONTAINER_DAEMON=nova-container-$n
        NOVA_CONTAINER_CONF=$ETC_DIR/host$n/nova-container.conf
        THIS_COMPUTE_HOST=$(compute_host_name "$n")
        netns=(ip netns exec "$(compute_host_netns "$n")")
    fi
    NOVA_CONTAINER_LOG=$LOG_DIR/$NOVA_CONTAINER_DAEMON.log
    DAEMON_CONFIGS[$NOVA_CONTAINER_DAEMON]=$NOVA_CONTAINER_CONF
    DAEMON_STOP_MODE[$NOVA_CONTAINER_DAEMON]=group
    # MALLOC_ARENA_MAX=2, --max-semi-space-size=2 and --optimize-for-size: the service's memory
    # kept small, as in the other launchers (devstack/plugin.sh, etc/systemd/nova-container.service);
    # why: README.md, "Memory"
    NOVA_CONTAINER_CMD=("${netns[@]}" env MALLOC_ARENA_MAX=2 "$NODE" --max-semi-space-size=2 --optimize-for-size "$LOCAL_CLOUD_REPO/dist/src/cli.js" --config-file "$NOVA_CONTAINER_CONF")
}

# compute_host_name N: the host name compute host N registers with Nova (and Neutron's agents of it)
compute_host_name() { if [ "$1" = 1 ]; then echo "$COMPUTE_HOST"; else echo "$COMPUTE_HOST-$1"; fi; }
# compute_host_netns N: the network namespace of compute host N >= 2
compute_host_netns() { echo "nc-host$1"; }
compute_instance 1

# compute_health N: the status /healthz of compute host N answers (ok, unhealthy), asked where
# its configuration has it listen, in its network namespace for N >= 2; "off" without an address
compute_health() {
    local conf=$ETC_DIR/nova-container.conf listen netns=() body
    [ "$1" = 1 ] || { conf=$ETC_DIR/host$1/nova-container.conf; netns=(ip netns exec "$(compute_host_netns "$1")"); }
    [ -r "$conf" ] || { echo "unknown (its configuration is root's)"; return 0; }
    # the last one: an override (overrides/, lib/common.sh) is appended to the file
    listen=$(sed -n '/^\[container\]/,/^\[/s/^health_listen *= *//p' "$conf" 2>/dev/null | tail -n 1)
    case $listen in '' | 0 | *:0) echo off; return 0 ;; esac
    [[ $listen == *:* ]] || listen=127.0.0.1:$listen
    # 503 has the same body as 200: no -f
    body=$("${netns[@]}" curl -s --max-time 3 "http://$listen/healthz" 2>/dev/null) || body=
    if [[ $body =~ \"status\":\"([a-z]+)\" ]]; then echo "${BASH_REMATCH[1]}"; else echo 'no answer'; fi
}

# build_nova_container: npm ci when node_modules is missing, tsc when dist/ is missing or older
# than src/
build_nova_container() {
    command -v "$NODE" >/dev/null || die "Node.js 20 ($NODE) is needed to run nova-container (not from Debian's packages here)"
    nova_container_build "$LOCAL_CLOUD_REPO" "$NODE" "$LOG_DIR/build.log" || die "$NOVA_CONTAINER_ERROR"
}

configure_nova_container() {
    mkdir -p "$NOVA_CONTAINER_STATE" "$(dirname "$NOVA_CONTAINER_CONF")"
    local -A conf=(
        [header]="# nova-container, compute host $THIS_COMPUTE_HOST of the local cloud (written by devstack/local-cloud.sh).
# No database URL here: a compute host talks to the database through nova-conductor only."
        [DEFAULT.transport_url]=$TRANSPORT_URL
        [DEFAULT.host]=$THIS_COMPUTE_HOST
        [DEFAULT.my_ip]=$SERVICE_HOST
        [DEFAULT.control_exchange]=nova
        [DEFAULT.report_interval]=5
        # what failed moves left of deleted servers goes within 10 s, not Nova's 300 (the tests wait for it)
        [DEFAULT.instance_delete_interval]=10
        [DEFAULT.state_path]=$NOVA_CONTAINER_STATE
        [filter_scheduler.track_instance_changes]=true
        [container.driver]=$CONTAINER_ENGINE
        [container.engine_socket]=unix://$ENGINE_SOCKET
        [container.health_listen]=$NOVA_CONTAINER_HEALTH_LISTEN
        # every server's console, through nova-serialproxy (lib/nova.sh)
        [serial_console.enabled]=true
        [serial_console.base_url]=ws://$SERVICE_HOST:$NOVA_SERIALPROXY_PORT/
        [serial_console.proxyclient_address]=$SERVICE_HOST
    )
    if [ "$NOVA_CONTAINER_DAEMON" != nova-container ]; then
        # inside its network namespace, whose 127.0.0.1 is not nova-serialproxy's: the consoles
        # listen on the namespace's end of its console link (lib/compute_hosts.sh); /healthz
        # stays on the namespace's own loopback (compute_health)
        conf[serial_console.proxyclient_address]=$(compute_host_console_address "${NOVA_CONTAINER_DAEMON##*-}")
    fi
    [ "$RABBIT_QUORUM_QUEUES" != yes ] || conf[oslo_messaging_rabbit.rabbit_quorum_queue]=true
    [ "$CONTAINER_ENGINE" != podman ] || [ "$DOCKER_USERNS" = yes ] || conf[container.podman_userns_remap]=
    # the compute host's switch of the ML2/OVN cloud (lib/ovn.sh)
    [ "$NEUTRON_BACKEND" != ovn ] || conf[os_vif_ovs.ovsdb_connection]=unix:$OVS_DB_SOCK
    local service
    for service in placement glance neutron; do
        nova_container_conf_auth conf "$service" "$KEYSTONE_URL" "$service" "$SERVICE_PASSWORD" \
            service Default Default "$REGION_NAME" public
    done
    nova_container_conf conf | write_file "$NOVA_CONTAINER_CONF" || true
}

start_nova_container() { start_daemon "$NOVA_CONTAINER_DAEMON" "$NOVA_CONTAINER_CONF" "${NOVA_CONTAINER_CMD[@]}"; }

# start_compute_host: (re)starts nova-container (compute_instance's) unless it runs with the
# current config and has reported within COMPUTE_STALE_AFTER seconds, waits until it registered
# and heartbeats, maps it into cell1. Builds only when it must start.
start_compute_host() {
    local since log_offset
    if daemon_current "$NOVA_CONTAINER_DAEMON" "${NOVA_CONTAINER_CMD[@]}"; then
        if compute_reported_within "$THIS_COMPUTE_HOST" "$COMPUTE_STALE_AFTER"; then
            host_mapped "$THIS_COMPUTE_HOST" || wait_for_compute "$THIS_COMPUTE_HOST" '1970-01-01 00:00:00'
            return 0
        fi
        log "$NOVA_CONTAINER_DAEMON runs but has not reported for ${COMPUTE_STALE_AFTER}s: restarting it"
    fi
    build_nova_container
    stop_nova_container
    since=$(mysql_ -N -e 'SELECT UTC_TIMESTAMP()')
    log_offset=$(stat -c %s "$NOVA_CONTAINER_LOG" 2>/dev/null || echo 0)
    start_nova_container
    wait_for_compute "$THIS_COMPUTE_HOST" "$since"
    wait_for_serving "$log_offset"
    log "compute service: $(api_compute_service "$THIS_COMPUTE_HOST")"
}

# api_compute_service HOST: "HOST STATUS STATE" of HOST's nova-compute service as the compute
# API reports it (GET /os-services, what `openstack compute service list` shows, without the
# CLI's 2 s of start-up at every restart of the service)
api_compute_service() {
    local auth
    auth=$(admin_token)
    [ -n "$auth" ] || { echo "(no admin token from Keystone to ask the compute API)"; return 0; }
    curl -sf --max-time 20 -H "X-Auth-Token: ${auth% *}" \
        "http://$SERVICE_HOST:$NOVA_API_PORT/v2.1/os-services?binary=nova-compute&host=$1" |
        jq -r '.services[] | "\(.host) \(.status) \(.state)"' 2>/dev/null | tr '\n' ' ' ||
        echo "(GET /os-services failed)"
}

stop_nova_container() { stop_daemon "$NOVA_CONTAINER_DAEMON" 30 group; }

# compute_reports_since HOST SQL_TIME: how many nova-compute services of HOST, with a compute
# node, reported at or after SQL_TIME (an SQL expression); fails when MariaDB cannot answer
compute_reports_since() {
    mysql_ -N -e "SELECT COUNT(*) FROM nova.services s JOIN nova.compute_nodes c ON c.host = s.host AND c.deleted = 0 WHERE s.host = '$1' AND s.\`binary\` = 'nova-compute' AND s.deleted = 0 AND s.last_seen_up >= $2"
}

# compute_reported_within HOST SECONDS: HOST reported within the last SECONDS; dies when MariaDB
# cannot tell (a host must not be stopped for want of an answer)
compute_reported_within() {
    local n
    n=$(compute_reports_since "$1" "UTC_TIMESTAMP() - INTERVAL $2 SECOND") || die "cannot ask MariaDB when compute host $1 last reported"
    [ "$n" -gt 0 ]
}

# compute_heartbeat_since HOST TS: HOST reported at or after TS (UTC); no answer counts as no
compute_heartbeat_since() {
    [ "$(compute_reports_since "$1" "'$2'" 2>/dev/null)" -gt 0 ] 2>/dev/null
}

# wait_for_serving OFFSET: until nova-container logged, past OFFSET of its log, that its
# start-up is done. It heartbeats before it recovers its instances, checks their VIFs and takes
# RPC: until then a call to a host whose queue is new is lost.
wait_for_serving() {
    local offset=$1 i
    for ((i = 0; i < COMPUTE_WAIT_TIMEOUT * 2; i++)); do
        # not tail | grep -q: grep's early exit would fail tail with SIGPIPE under pipefail
        grep -qF '"msg":"nova-container compute host is serving"' < <(tail -c "+$((offset + 1))" "$NOVA_CONTAINER_LOG") && return 0
        daemon_running "$NOVA_CONTAINER_DAEMON" || die "nova-container exited during its start-up (log: $NOVA_CONTAINER_LOG)"
        sleep 0.5
    done
    die "nova-container did not finish its start-up within ${COMPUTE_WAIT_TIMEOUT}s; see $NOVA_CONTAINER_LOG"
}

# wait_for_compute HOST SINCE: until the host registered (service + compute node rows) and
# heartbeated after SINCE; then maps it into cell1.
wait_for_compute() {
    local host=$1 since=$2 i
    log "waiting for compute host $host to register (up to ${COMPUTE_WAIT_TIMEOUT}s)"
    for ((i = 0; i < COMPUTE_WAIT_TIMEOUT * 2; i++)); do
        compute_heartbeat_since "$host" "$since" && break
        if ! daemon_running "$NOVA_CONTAINER_DAEMON"; then
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

#!/bin/bash
# The one-command local cloud: OpenStack Zed from Debian's packages on 127.0.0.1 with
# nova-container (this checkout) as its compute host. No systemd: every daemon runs in the
# background with a PID file; state, configs, logs under $LOCAL_CLOUD_DIR.
#
#   local-cloud.sh up               install (once), configure, start what is not running
#   local-cloud.sh down             stop everything this script started (data kept)
#   local-cloud.sh status           each service and whether it runs
#   local-cloud.sh restart-compute  restart nova-container (and wait until it is up again)
#   local-cloud.sh logs [SERVICE]   list the logs, or follow one
set -euo pipefail

LOCAL_CLOUD_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)
LOCAL_CLOUD_REPO=$(cd "$LOCAL_CLOUD_LIB/../.." && pwd)
OS_COMPUTE_API_VERSION_DEFAULT=2.79

# up, down and restart-compute change what runs: one at a time (a second waits for the first).
# The lock is taken before the settings are read, so a run that waited sees what the one
# before it saved (else it would write back the stale values it read).
case "${1:-}" in
    up | down | restart-compute)
        mkdir -p "${LOCAL_CLOUD_DIR:-/opt/nova-container-cloud}"
        exec 9>>"${LOCAL_CLOUD_DIR:-/opt/nova-container-cloud}/.lock"
        flock 9
        ;;
esac

# shellcheck source=lib/common.sh
. "$LOCAL_CLOUD_LIB/common.sh"
# Opt-in parts (HEAT=yes, HORIZON=yes; kept in $LOCAL_CLOUD_DIR/settings like the rest). Each
# lib/<part>.sh defines <PART>_SERVICES (name:port entries), <part>_packages (Debian packages),
# up_<part> (configure, init, start and wait; idempotent) and down_<part>.
OPTIONAL_PARTS=()
[ "$HEAT" != yes ] || OPTIONAL_PARTS+=(heat)
[ "$HORIZON" != yes ] || OPTIONAL_PARTS+=(horizon)

for f in packages rabbitmq mariadb keystone glance placement nova neutron docker nova_container \
    "${OPTIONAL_PARTS[@]}"; do
    # shellcheck disable=SC1090
    . "$LOCAL_CLOUD_LIB/$f.sh"
done

# name:port of every daemon, in start order (port "-" = none of its own)
SERVICES=(mariadb:$MYSQL_PORT rabbitmq:$RABBIT_PORT dockerd:- keystone:$KEYSTONE_PORT
    glance-api:$GLANCE_PORT placement:$PLACEMENT_PORT nova-conductor:- nova-scheduler:-
    nova-api:$NOVA_API_PORT neutron-server:$NEUTRON_PORT)
[ "$NEUTRON_AGENTS" = no ] || SERVICES+=(neutron-linuxbridge-agent:- neutron-dhcp-agent:-)
SERVICES+=(nova-container:-)
for part in "${OPTIONAL_PARTS[@]}"; do
    declare -n part_services="${part^^}_SERVICES"
    SERVICES+=("${part_services[@]}")
    LOCAL_CLOUD_PACKAGES+=($("${part}_packages"))
    unset -n part_services
done

# check_ports: before starting anything, every port of a daemon that is not running must be free
check_ports() {
    local entry
    for entry in "${SERVICES[@]}" rabbitmq:$RABBIT_DIST_PORT; do
        [ "${entry##*:}" = - ] || ensure_port_free "${entry%%:*}" "${entry##*:}"
    done
}

require_root() { [ "$(id -u)" = 0 ] || die "run me as root"; }


_keystone_up() { init_keystone; start_keystone; create_accounts; }
_rabbitmq_up() { wait_rabbitmq; init_rabbitmq; }
_sqlite_dbs() { init_glance; init_placement; }

cmd_up() {
    require_root
    local t0=$SECONDS
    install_packages
    ensure_dirs
    configure_mariadb
    configure_rabbitmq
    configure_docker
    configure_keystone
    configure_glance
    configure_placement
    configure_nova
    configure_neutron
    [ "$NEUTRON_AGENTS" = no ] || configure_neutron_agents
    configure_nova_container
    write_openrc
    check_ports

    start_docker
    start_mariadb
    start_rabbitmq
    run_jobs _rabbitmq_up _keystone_up init_nova init_neutron _sqlite_dbs

    start_glance
    start_placement
    start_nova
    start_neutron
    wait_docker
    wait_glance
    wait_placement
    wait_neutron
    # after neutron-server serves: an agent's first RPC calls, sent before the server's RPC
    # workers declared their queues, are dropped by the broker and time out after 60 s (the
    # DHCP agent then served no network for ~2 min)
    [ "$NEUTRON_AGENTS" = no ] || start_neutron_agents
    wait_nova
    [ "$NEUTRON_AGENTS" = no ] || wait_neutron_agents
    create_flavors
    create_networks

    start_compute_host
    for part in "${OPTIONAL_PARTS[@]}"; do "up_$part"; done
    log "local cloud is up ($((SECONDS - t0)) s); credentials: . $LOCAL_CLOUD_DIR/openrc"
    echo "$LOCAL_CLOUD_DIR/openrc"
}

cmd_down() {
    require_root
    for part in "${OPTIONAL_PARTS[@]}"; do "down_$part"; done
    stop_nova_container
    run_jobs stop_neutron_agents stop_neutron stop_nova stop_placement stop_glance stop_keystone
    run_jobs stop_docker stop_rabbitmq stop_mariadb
    log "local cloud stopped (data kept in $LOCAL_CLOUD_DIR)"
}

cmd_status() {
    local entry name port pid state rc=0
    printf '%-26s %-8s %-8s %s\n' SERVICE STATE PID LISTEN
    for entry in "${SERVICES[@]}"; do
        name=${entry%%:*}
        port=${entry##*:}
        if pid=$(daemon_pid "$name"); then
            state=running
        else
            state=stopped
            pid=-
            rc=3
        fi
        [ "$port" = - ] && port="" || port=$SERVICE_HOST:$port
        [ "$name" = dockerd ] && port=unix://$DOCKER_SOCKET
        printf '%-26s %-8s %-8s %s\n' "$name" "$state" "$pid" "$port"
    done
    if daemon_running mariadb; then
        local up
        up=$(mysql_ -N -e "SELECT IF(TIMESTAMPDIFF(SECOND, COALESCE(last_seen_up, created_at), UTC_TIMESTAMP()) <= 20 AND NOT forced_down, 'up', 'down'), IF(disabled, 'disabled', 'enabled') FROM nova.services WHERE host = '$COMPUTE_HOST' AND \`binary\` = 'nova-compute' AND deleted = 0" 2>/dev/null | tr '\t' ' ' || true)
        printf 'compute host %s: %s%s\n' "$COMPUTE_HOST" "${up:-not registered}" \
            "$(host_mapped "$COMPUTE_HOST" && echo ', mapped to cell1' || true)"
    fi
    [ -f "$LOCAL_CLOUD_DIR/openrc" ] && echo "credentials: $LOCAL_CLOUD_DIR/openrc"
    return $rc
}

cmd_restart_compute() {
    require_root
    daemon_running mariadb || die "the local cloud is not up (run: $0 up)"
    configure_nova_container
    stop_nova_container
    start_compute_host
    log "nova-container restarted"
}

cmd_logs() {
    if [ $# -eq 0 ]; then
        ls -1 "$LOG_DIR"
    else
        exec tail -F "$LOG_DIR/$1.log"
    fi
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    restart-compute) cmd_restart_compute ;;
    logs) shift; cmd_logs "$@" ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

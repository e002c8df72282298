#!/bin/bash
# The one-command local cloud: OpenStack from Debian's packages on 127.0.0.1 with
# nova-container (this checkout) as its compute host: 2025.1 (trixie's packages, in a chroot) or,
# with OPENSTACK_RELEASE=zed, Zed (bookworm, this host's packages). No systemd: every daemon runs in
# the background with a PID file; state, configs, logs under $LOCAL_CLOUD_DIR.
#
#   local-cloud.sh up               install (once), configure, start what is not running
#   local-cloud.sh prepare          install only (the release's root and packages; no port taken)
#   local-cloud.sh down             stop everything this script started (data kept)
#   local-cloud.sh status           each service and whether it runs, each compute host's /healthz
#   local-cloud.sh restart-compute  restart nova-container (and wait until it is up again)
#   local-cloud.sh logs [SERVICE]   list the logs, or follow one
set -euo pipefail

LOCAL_CLOUD_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)
LOCAL_CLOUD_REPO=$(cd "$LOCAL_CLOUD_LIB/../.." && pwd)
OS_COMPUTE_API_VERSION_DEFAULT=2.79

# shellcheck source=lib/cloud-dir.sh
. "$LOCAL_CLOUD_LIB/cloud-dir.sh"
set_cloud_dir "${1:-}"

# up, down and restart-compute change what runs: one at a time (a second waits for the first).
# The lock is taken before the settings are read, so a run that waited sees what the one
# before it saved (else it would write back the stale values it read).
case "${1:-}" in
    up | prepare | down | restart-compute)
        mkdir -p "$LOCAL_CLOUD_DIR"
        exec 9>>"$LOCAL_CLOUD_DIR/.lock"
        flock 9
        ;;
esac

# shellcheck source=lib/common.sh
. "$LOCAL_CLOUD_LIB/common.sh"
# Optional parts, on unless left out (HEAT=no, HORIZON=no; kept in $LOCAL_CLOUD_DIR/settings
# like the rest). Each
# lib/<part>.sh defines <PART>_SERVICES (name:port entries), <part>_packages (Debian packages
# of the control plane), <part>_host_packages (its clients on the host),
# up_<part> (configure, init, start and wait; idempotent) and down_<part>.
OPTIONAL_PARTS=()
[ "$HEAT" != yes ] || OPTIONAL_PARTS+=(heat)
[ "$HORIZON" != yes ] || OPTIONAL_PARTS+=(horizon)

# shellcheck source=lib/release.sh
. "$LOCAL_CLOUD_LIB/release.sh"
NEUTRON_PARTS=()
[ "$NEUTRON_BACKEND" != ovn ] || NEUTRON_PARTS=(ovn)
for f in packages rabbitmq mariadb keystone glance placement nova neutron "${NEUTRON_PARTS[@]}" \
    btrfs_store "$CONTAINER_ENGINE" nova_container compute_hosts "${OPTIONAL_PARTS[@]}"; do
    # shellcheck disable=SC1090
    . "$LOCAL_CLOUD_LIB/$f.sh"
done

# name:port of every daemon, in start order (port "-" = none of its own)
SERVICES=(mariadb:$MYSQL_PORT rabbitmq:$RABBIT_PORT "$ENGINE_DAEMON":- keystone:$KEYSTONE_PORT
    glance-api:$GLANCE_PORT placement:$PLACEMENT_PORT nova-conductor:- nova-scheduler:-
    nova-api:$NOVA_API_PORT nova-serialproxy:$NOVA_SERIALPROXY_PORT neutron-server:$NEUTRON_PORT)
if [ "$NEUTRON_BACKEND" = ovn ]; then
    SERVICES+=("${OVN_CENTRAL_SERVICES[@]}")
    [ "$NEUTRON_AGENTS" = no ] || SERVICES+=("${OVN_HOST_SERVICES[@]}")
elif [ "$NEUTRON_AGENTS" != no ]; then
    SERVICES+=(neutron-linuxbridge-agent:- neutron-dhcp-agent:-)
fi
SERVICES+=(nova-container:- $(extra_host_services))
for part in "${OPTIONAL_PARTS[@]}"; do
    declare -n part_services="${part^^}_SERVICES"
    SERVICES+=("${part_services[@]}")
    RELEASE_PACKAGES+=($("${part}_packages"))
    HOST_PACKAGES+=($("${part}_host_packages"))
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

# other_cloud_up: the cloud in ACTIVE_CLOUD_FILE, when it is another one and one of its daemons
# runs (its PID alive and still that daemon's command line)
other_cloud_up() {
    local other f pid
    other=$(cat "$ACTIVE_CLOUD_FILE" 2>/dev/null || true)
    [ -n "$other" ] && [ "$other" != "$LOCAL_CLOUD_DIR" ] || return 1
    for f in "$other"/run/*.pid; do
        pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(cat "${f%.pid}.match" 2>/dev/null)" && return 0
    done
    return 1
}

# claim_ports: no other cloud that is up uses one of our ports (one cloud holds the default ports
# at a time; a second one on ports of its own may run beside it, see devstack/README.md); the
# first cloud up becomes the one commands and tests address. Under a machine-wide lock, so that
# two `up` of different clouds cannot both pass.
claim_ports() {
    exec 8>>/run/nova-container-cloud.lock
    flock 8
    if other_cloud_up; then
        local other k ours theirs release
        other=$(cat "$ACTIVE_CLOUD_FILE")
        for k in KEYSTONE_PORT GLANCE_PORT PLACEMENT_PORT NOVA_API_PORT NOVA_SERIALPROXY_PORT NEUTRON_PORT RABBIT_PORT RABBIT_DIST_PORT MYSQL_PORT HEAT_API_PORT HORIZON_PORT; do
            ours=${!k:-}
            theirs=$(sed -n "s/^$k=//p" "$other/settings" 2>/dev/null)
            if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
                release=$(sed -n 's/^OPENSTACK_RELEASE=//p' "$other/settings" 2>/dev/null)
                die "the ${release:-zed} cloud in $other is up and holds the ports ($k=$ours); stop it first: LOCAL_CLOUD_DIR=$other $0 down"
            fi
        done
    else
        echo "$LOCAL_CLOUD_DIR" >"$ACTIVE_CLOUD_FILE"
    fi
    exec 8>&-
}

# the neutron backend's daemons: OVN's central part starts before neutron-server (ML2/OVN
# connects at start-up), the compute host's part after it; Linux bridge agents after it too
_ovn_host_up() { start_ovs; wait_ovn_chassis; }
start_neutron_backend() {
    if [ "$NEUTRON_BACKEND" = ovn ]; then
        [ "$NEUTRON_AGENTS" = no ] || _ovn_host_up
    elif [ "$NEUTRON_AGENTS" != no ]; then
        start_neutron_agents
    fi
}
wait_neutron_backend() {
    [ "$NEUTRON_BACKEND" = ovn ] || [ "$NEUTRON_AGENTS" = no ] || wait_neutron_agents
}
stop_neutron_backend() {
    if [ "$NEUTRON_BACKEND" = ovn ]; then stop_ovn; else stop_neutron_agents; fi
}

cmd_up() {
    require_root
    local t0=$SECONDS
    check_compute_hosts
    claim_ports
    ensure_dirs
    ensure_release_root
    install_packages
    configure_mariadb
    configure_rabbitmq
    configure_engine
    configure_keystone
    configure_glance
    configure_placement
    configure_nova
    configure_neutron
    [ "$NEUTRON_BACKEND" = ovn ] || [ "$NEUTRON_AGENTS" = no ] || configure_neutron_agents
    configure_nova_container
    write_openrc
    check_ports

    start_engine
    [ "$NEUTRON_BACKEND" != ovn ] || start_ovn_central
    start_mariadb
    start_rabbitmq
    run_jobs _rabbitmq_up _keystone_up init_nova init_neutron _sqlite_dbs

    start_glance
    start_placement
    start_nova
    start_neutron
    wait_engine
    wait_glance
    wait_placement
    wait_neutron
    # after neutron-server serves: an agent's first RPC calls, sent before the server's RPC
    # workers declared their queues, are dropped by the broker and time out after 60 s (the
    # DHCP agent then served no network for ~2 min)
    start_neutron_backend
    wait_nova
    wait_neutron_backend
    create_flavors
    create_networks

    start_compute_host
    compute_hosts_up
    for part in "${OPTIONAL_PARTS[@]}"; do "up_$part"; done
    log "local cloud is up ($((SECONDS - t0)) s); credentials: . $LOCAL_CLOUD_DIR/openrc"
    echo "$LOCAL_CLOUD_DIR/openrc"
}

# cmd_prepare: what `up` installs, without starting anything (so it can run while another
# cloud holds the ports: test/run-all.sh prepares zed while the 2025.1 tests run)
cmd_prepare() {
    require_root
    local t0=$SECONDS
    ensure_dirs
    ensure_release_root
    install_packages
    log "$OPENSTACK_RELEASE prepared in $LOCAL_CLOUD_DIR ($((SECONDS - t0)) s)"
}

cmd_down() {
    require_root
    local downs=()
    for part in "${OPTIONAL_PARTS[@]}"; do downs+=("down_$part"); done
    # each of these stops a part of its own (the other hosts each in order, their service first),
    # a couple of seconds a daemon: together
    run_jobs "${downs[@]}" compute_hosts_down stop_nova_container
    run_jobs stop_neutron_backend stop_neutron stop_nova stop_placement stop_glance stop_keystone
    run_jobs stop_engine stop_rabbitmq stop_mariadb
    umount_release_root
    [ "$(cat "$ACTIVE_CLOUD_FILE" 2>/dev/null)" != "$LOCAL_CLOUD_DIR" ] || rm -f "$ACTIVE_CLOUD_FILE"
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
        [ "$name" = "$ENGINE_DAEMON" ] && port=unix://$ENGINE_SOCKET
        printf '%-26s %-8s %-8s %s\n' "$name" "$state" "$pid" "$port"
    done
    if daemon_running mariadb; then
        local up
        local n host
        for ((n = 1; n <= COMPUTE_HOSTS; n++)); do
            host=$(compute_host_name "$n")
            up=$(mysql_ -N -e "SELECT IF(TIMESTAMPDIFF(SECOND, COALESCE(last_seen_up, created_at), UTC_TIMESTAMP()) <= 20 AND NOT forced_down, 'up', 'down'), IF(disabled, 'disabled', 'enabled') FROM nova.services WHERE host = '$host' AND \`binary\` = 'nova-compute' AND deleted = 0" 2>/dev/null | tr '\t' ' ' || true)
            printf 'compute host %s: %s%s, /healthz %s\n' "$host" "${up:-not registered}" \
                "$(host_mapped "$host" && echo ', mapped to cell1' || true)" "$(compute_health "$n")"
        done
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
    prepare) cmd_prepare ;;
    down) cmd_down ;;
    status) cmd_status ;;
    restart-compute) cmd_restart_compute ;;
    logs) shift; cmd_logs "$@" ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

# Compute hosts beyond the first (COMPUTE_HOSTS=N, kept in the settings): host n (2..N) is
# $COMPUTE_HOST-n, with an engine of its own (engine_instance n: lib/docker.sh or lib/podman.sh),
# its own nova-container (compute_instance n: lib/nova_container.sh) and its own part of Neutron
# (a Linux bridge agent on zed; on 2025.1 an Open vSwitch and ovn-controller, its chassis:
# ovs_instance n, lib/ovn.sh), all in network namespace nc-host<n> but a podman (a second
# dockerd is there too: lib/docker.sh). There its bridges, taps, iptables and ebtables rules are
# its own, as another machine's would be; the control plane's ports reach it through
# lib/netns-forward. Servers of the two hosts share no L2 segment (each host's tunnel endpoint is
# in its own namespace). nova-serialproxy reaches a server's console there through a veth
# pair of the host's own (compute_host_console_address).
#
# Only the project `moves` may have servers there (nova's AggregateMultiTenancyIsolation filter
# and the aggregate of the hosts beyond the first): the servers of every other project stay on
# the cloud's own host, as when there is one. An admin still places one there by name
# (--availability-zone nova:HOST) or moves one there (migrate, evacuate).
# Needs lib/common.sh, lib/nova_container.sh, the engine's lib and lib/neutron.sh.

MOVES_PROJECT=moves
MOVES_AGGREGATE=hosts-for-moves
NETNS_FORWARD_PORTS=("$RABBIT_PORT" "$KEYSTONE_PORT" "$GLANCE_PORT" "$PLACEMENT_PORT" "$NEUTRON_PORT")

# extra_hosts: 2..COMPUTE_HOSTS
extra_hosts() { local n; for ((n = 2; n <= COMPUTE_HOSTS; n++)); do echo "$n"; done; }

# extra_host_services: name:port entries of the daemons of the hosts beyond the first
extra_host_services() {
    local n
    for n in $(extra_hosts); do
        engine_instance "$n"
        if [ "$NEUTRON_BACKEND" = ovn ]; then
            ovs_instance "$n"
            echo "host$n-forward:- $ENGINE_DAEMON:- ${OVN_HOST_SERVICES[*]} nova-container-$n:-"
        else
            echo "host$n-forward:- $ENGINE_DAEMON:- neutron-linuxbridge-agent-$n:- nova-container-$n:-"
        fi
    done
    engine_instance 1
    [ "$NEUTRON_BACKEND" != ovn ] || ovs_instance 1
}

# host_netns_up N: namespace nc-host<N> with its loopback up, the control plane's ports
# forwarded into it, bridged frames through its iptables, and a physnet1 interface of its own
_host_netns_up() {
    local n=$1 ns k
    ns=$(compute_host_netns "$n")
    [ -e "/run/netns/$ns" ] || ip netns add "$ns" || die "cannot create network namespace $ns"
    ip -n "$ns" link set lo up
    for k in net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables; do
        ip netns exec "$ns" sysctl -qw "$k=1" || die "cannot set $k=1 in $ns"
    done
    if ! ip -n "$ns" link show "$NEUTRON_PHYS_IF" >/dev/null 2>&1; then
        ip -n "$ns" link add "$NEUTRON_PHYS_IF" type veth peer name "${NEUTRON_PHYS_IF}p" ||
            die "cannot create the veth pair $NEUTRON_PHYS_IF in $ns"
    fi
    ip -n "$ns" link set "${NEUTRON_PHYS_IF}p" up
    ip -n "$ns" link set "$NEUTRON_PHYS_IF" up
    _host_console_link_up "$n" "$ns"
    start_daemon "host$n-forward" "netns-forward $ns" \
        "$LOCAL_CLOUD_LIB/netns-forward" "$ns" "$RUN_DIR/host$n" "${NETNS_FORWARD_PORTS[@]}"
    DAEMON_STOP_MODE[host$n-forward]=group
}

# compute_host_console_address N: where host N's serial consoles listen, in its namespace (its
# [serial_console] proxyclient_address); nova-serialproxy connects there from this namespace
compute_host_console_address() { echo "169.254.254.$((4 * $1 - 2))"; }

# _host_console_link_up N NETNS: the veth pair between this namespace and host N's, a /30 of
# link-local addresses (the host's end: compute_host_console_address); nothing is routed
# beyond the pair
_host_console_link_up() {
    local n=$1 ns=$2 outer="nc-host$1-con" inner=console0 address
    address=$(compute_host_console_address "$n")
    # both ends or neither: an end whose peer went with an earlier namespace of that name is made anew
    if ! ip link show "$outer" >/dev/null 2>&1 || ! ip -n "$ns" link show "$inner" >/dev/null 2>&1; then
        ip link del "$outer" 2>/dev/null || true
        ip -n "$ns" link del "$inner" 2>/dev/null || true
        ip link add "$outer" type veth peer name "$inner" netns "$ns" ||
            die "cannot create the veth pair $outer-$inner for the consoles of $ns"
    fi
    ip addr replace "169.254.254.$((4 * n - 3))/30" dev "$outer" || die "cannot address $outer"
    ip -n "$ns" addr replace "$address/30" dev "$inner" || die "cannot address $inner in $ns"
    ip link set "$outer" up && ip -n "$ns" link set "$inner" up || die "cannot bring up $outer-$inner"
}

# The Linux bridge agent of host N: the cloud's agent configuration, and the host's name and
# state directory; in the host's namespace
_host_agent_cmd() {
    local n=$1
    HOST_AGENT_CONF=$ETC_DIR/host$n/neutron-agent.conf
    HOST_AGENT_CMD=(ip netns exec "$(compute_host_netns "$n")" "${NEUTRON_LB_CMD[@]}" --config-file "$HOST_AGENT_CONF")
    DAEMON_CONFIGS[neutron-linuxbridge-agent-$n]=$HOST_AGENT_CONF
    DAEMON_STOP_MODE[neutron-linuxbridge-agent-$n]=group
}

_host_agent_up() {
    local n=$1 host since i
    host=$(compute_host_name "$n")
    _host_agent_cmd "$n"
    mkdir -p "$DATA_DIR/neutron-host$n/lock"
    write_file "$HOST_AGENT_CONF" <<EOF2 || true
[DEFAULT]
host = $host
state_path = $DATA_DIR/neutron-host$n

[oslo_concurrency]
lock_path = $DATA_DIR/neutron-host$n/lock
EOF2
    since=$(mysql_ -N -e 'SELECT UTC_TIMESTAMP() - INTERVAL 20 SECOND')
    daemon_current "neutron-linuxbridge-agent-$n" "${HOST_AGENT_CMD[@]}" || since=$(mysql_ -N -e 'SELECT UTC_TIMESTAMP()')
    start_daemon "neutron-linuxbridge-agent-$n" "$HOST_AGENT_CONF" "${HOST_AGENT_CMD[@]}"
    for ((i = 0; i < 600; i++)); do
        neutron_agent_alive 'Linux bridge agent' "$since" "$host" && return 0
        daemon_running "neutron-linuxbridge-agent-$n" ||
            { tail -n 20 "$LOG_DIR/neutron-linuxbridge-agent-$n.log" >&2; die "the Linux bridge agent of $host exited (log: $LOG_DIR/neutron-linuxbridge-agent-$n.log)"; }
        sleep 0.1
    done
    die "the Linux bridge agent of $host did not report within 60 s (log: $LOG_DIR/neutron-linuxbridge-agent-$n.log)"
}

# _host_chassis_up N: host N's Open vSwitch and ovn-controller, in its namespace, and its
# chassis in OVN's southbound database
_host_chassis_up() {
    ovs_instance "$1"
    start_ovs
    wait_ovn_chassis
}

# _host_neutron_up N: host N's part of Neutron, and, on OVN, its switch for nova-container's
# configuration (configure_nova_container reads OVS_DB_SOCK)
_host_neutron_up() {
    if [ "$NEUTRON_BACKEND" = ovn ]; then _host_chassis_up "$1"; else _host_agent_up "$1"; fi
}

# check_compute_hosts: before `up` changes anything (the settings keep COMPUTE_HOSTS), whether
# this cloud can have the hosts asked for: each one more runs its own part of Neutron
check_compute_hosts() {
    [ "$COMPUTE_HOSTS" -gt 1 ] || return 0
    [ "$NEUTRON_AGENTS" = yes ] ||
        die "COMPUTE_HOSTS=$COMPUTE_HOSTS needs Neutron's agents on every host (NEUTRON_AGENTS=yes)"
}

# compute_hosts_up: every host beyond the first up (after the first: its agents, networks and
# flavors are there), then the project and aggregate that keep other servers off them
compute_hosts_up() {
    [ "$COMPUTE_HOSTS" -gt 1 ] || return 0
    local n
    for n in $(extra_hosts); do
        log "compute host $(compute_host_name "$n") (namespace $(compute_host_netns "$n"))"
        _host_netns_up "$n"
        engine_instance "$n"
        configure_engine
        start_engine
        wait_engine
        _host_neutron_up "$n"
        compute_instance "$n"
        configure_nova_container
        start_compute_host
    done
    engine_instance 1
    compute_instance 1
    [ "$NEUTRON_BACKEND" != ovn ] || ovs_instance 1
    admin_env "$PYTHON" "$LOCAL_CLOUD_LIB/accounts.py" moves "$MOVES_PROJECT" "$MOVES_AGGREGATE" \
        $(for n in $(extra_hosts); do compute_host_name "$n"; done) >>"$LOG_DIR/accounts.log" 2>&1 ||
        die "the project $MOVES_PROJECT and aggregate $MOVES_AGGREGATE failed (log: $LOG_DIR/accounts.log)"
}

# compute_hosts_down: the daemons of every host beyond the first that runs (the settings may
# name fewer hosts now); their containers, namespaces and bridges stay, as the first host's do
compute_hosts_down() {
    local f n
    for f in "$RUN_DIR"/nova-container-*.pid; do
        [ -f "$f" ] || continue
        n=${f##*/nova-container-}
        n=${n%.pid}
        compute_instance "$n"
        stop_nova_container
        if [ "$NEUTRON_BACKEND" = ovn ]; then
            ovs_instance "$n"
            stop_ovs
        else
            _host_agent_cmd "$n"
            stop_daemon "neutron-linuxbridge-agent-$n" 30 group
        fi
        engine_instance "$n"
        stop_engine
        stop_daemon "host$n-forward" 10 group
    done
    engine_instance 1
    compute_instance 1
    [ "$NEUTRON_BACKEND" != ovn ] || ovs_instance 1
}

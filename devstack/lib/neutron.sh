# Neutron: neutron-server (ML2, 127.0.0.1:9696, MariaDB). With NEUTRON_BACKEND=ovn (2025.1: the
# Linux bridge driver is gone) ML2/OVN, Geneve tenant networks and OVN's own DHCP (lib/ovn.sh).
# With linuxbridge (zed), on the same host under the compute
# host's name ($COMPUTE_HOST), neutron-linuxbridge-agent (iptables security groups, VXLAN over
# 127.0.0.1) and neutron-dhcp-agent (dnsmasq in qdhcp-<net id> namespaces). No L3 or metadata
# agent. Tenant networks are VXLAN (one host: the VXLAN devices never carry a packet, see
# devstack/README.md); the flat provider network physnet1 sits on a veth pair of our own.

NEUTRON_ETC=$ETC_DIR/neutron
NEUTRON_CONF_FILES=(--config-file "$NEUTRON_ETC/neutron.conf" --config-file "$NEUTRON_ETC/ml2_conf.ini")
DAEMON_CONFIGS[neutron-server]="$NEUTRON_ETC/neutron.conf $NEUTRON_ETC/ml2_conf.ini"
DAEMON_STOP_MODE[neutron-server]=group
NEUTRON_AGENT_CONF=$NEUTRON_ETC/agent.conf
NEUTRON_LB_CONF=$NEUTRON_ETC/linuxbridge_agent.ini
NEUTRON_DHCP_CONF=$NEUTRON_ETC/dhcp_agent.ini
NEUTRON_BIN=$LOCAL_CLOUD_DIR/bin      # first in the Linux bridge agent's PATH: the ebtables fix
DAEMON_CONFIGS[neutron-linuxbridge-agent]="$NEUTRON_AGENT_CONF $NEUTRON_LB_CONF $NEUTRON_BIN/ebtables"
DAEMON_CONFIGS[neutron-dhcp-agent]="$NEUTRON_AGENT_CONF $NEUTRON_DHCP_CONF"
DAEMON_STOP_MODE[neutron-linuxbridge-agent]=group
DAEMON_STOP_MODE[neutron-dhcp-agent]=group
# physnet1 (flat provider network `public`): the host end of a veth pair made by `up` (this
# kernel has no dummy interfaces); frames the bridge floods to it end at its peer.
: "${NEUTRON_PHYS_IF:=lcphys0}"

configure_neutron() {
    mkdir -p "$DATA_DIR/neutron/lock"
    {
        cat <<EOF2
[DEFAULT]
bind_host = $SERVICE_HOST
bind_port = $NEUTRON_PORT
core_plugin = ml2
service_plugins = $([ "$NEUTRON_BACKEND" = ovn ] && echo ovn-router || echo router)
allow_overlapping_ips = true
auth_strategy = keystone
transport_url = $TRANSPORT_URL
state_path = $DATA_DIR/neutron
api_paste_config = /etc/neutron/api-paste.ini
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 1
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
debug = false

[database]
connection = $(database_url neutron neutron)

[oslo_concurrency]
lock_path = $DATA_DIR/neutron/lock

[oslo_messaging_notifications]
driver = noop

[agent]
root_helper = sudo

EOF2
        # Zed marks the Linux bridge driver experimental
        [ "$NEUTRON_BACKEND" = ovn ] || printf '[experimental]\nlinuxbridge = true\n\n'
        messaging_options
        echo
        authtoken_section neutron
        echo
        service_credentials nova nova
        echo "endpoint_type = public"
    } | write_file "$NEUTRON_ETC/neutron.conf" || true
    "ml2_conf_$NEUTRON_BACKEND" | write_file "$NEUTRON_ETC/ml2_conf.ini" || true
}

ml2_conf_ovn() {
    cat <<EOF2
[ml2]
type_drivers = flat,vlan,geneve
tenant_network_types = geneve
mechanism_drivers = ovn
extension_drivers = port_security
overlay_ip_version = 4

[ml2_type_flat]
flat_networks = *

[ml2_type_vlan]
network_vlan_ranges = physnet1

[ml2_type_geneve]
vni_ranges = 1:65536
max_header_size = 38

[securitygroup]
enable_security_group = true

[ovn]
ovn_nb_connection = unix:$OVN_NB_SOCK
ovn_sb_connection = unix:$OVN_SB_SOCK
ovn_l3_scheduler = leastloaded
# no metadata agent: instances get their addresses from network_info, not from cloud-init
ovn_metadata_enabled = false
enable_distributed_floating_ip = false
EOF2
}

ml2_conf_linuxbridge() {
    cat <<EOF2
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = linuxbridge,l2population
extension_drivers = port_security

[ml2_type_flat]
flat_networks = *

[ml2_type_vlan]
network_vlan_ranges = physnet1

[ml2_type_vxlan]
vni_ranges = 1:1000

[securitygroup]
enable_security_group = true
firewall_driver = iptables
EOF2
}

# The agents read agent.conf (no database URL) and their own file. Every agent registers
# under the compute host's name: ML2 binds a port to host H only when an alive Linux bridge
# agent reported from H (else binding:vif_type = binding_failed).
configure_neutron_agents() {
    mkdir -p "$DATA_DIR/neutron/lock"
    write_file "$NEUTRON_AGENT_CONF" <<EOF2 || true
[DEFAULT]
host = $COMPUTE_HOST
transport_url = $TRANSPORT_URL
state_path = $DATA_DIR/neutron
debug = false

[oslo_concurrency]
lock_path = $DATA_DIR/neutron/lock

[oslo_messaging_notifications]
driver = noop

[agent]
# we run as root: sudo is a no-op helper here (privsep-helper is started through it too)
root_helper = sudo
report_interval = 10

$(messaging_options)
EOF2
    write_file "$NEUTRON_LB_CONF" <<EOF2 || true
[linux_bridge]
physical_interface_mappings = physnet1:$NEUTRON_PHYS_IF

[vxlan]
enable_vxlan = true
local_ip = $SERVICE_HOST
l2_population = true

[agent]
polling_interval = 1

[securitygroup]
enable_security_group = true
firewall_driver = iptables

# The agent runs ebtables through its privsep daemon. Started without sudo (we are root), the
# daemon keeps the agent's PATH, where $NEUTRON_BIN/ebtables comes first (see that file).
[privsep]
helper_command = privsep-helper --config-file $NEUTRON_AGENT_CONF --config-file $NEUTRON_LB_CONF
EOF2
    mkdir -p "$NEUTRON_BIN"
    write_file "$NEUTRON_BIN/ebtables" 755 <"$LOCAL_CLOUD_LIB/ebtables-among-delete" || true
    write_file "$NEUTRON_DHCP_CONF" <<EOF2 || true
[DEFAULT]
interface_driver = linuxbridge
dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq
enable_isolated_metadata = false
force_metadata = false
# dnsmasq answers DHCP only: no upstream resolver (nothing leaves the machine)
dnsmasq_local_resolv = false
EOF2
}

init_neutron() {
    step_done neutron-db && return 0
    log "initialising the Neutron database"
    create_mysql_db neutron neutron
    "${RELEASE_EXEC[@]}" /usr/bin/neutron-db-manage "${NEUTRON_CONF_FILES[@]}" upgrade heads \
        >>"$LOG_DIR/neutron-db-manage.log" 2>&1 || die "neutron-db-manage failed (log: $LOG_DIR/neutron-db-manage.log)"
    mark_done neutron-db
}

start_neutron() {
    ensure_port_free neutron-server "$NEUTRON_PORT"
    start_daemon neutron-server neutron-server "${RELEASE_EXEC[@]}" /usr/bin/neutron-server "${NEUTRON_CONF_FILES[@]}"
}

wait_neutron() { wait_for_http neutron-server "http://$SERVICE_HOST:$NEUTRON_PORT/" 120; }

stop_neutron() { stop_daemon neutron-server 30 group; }

# ---------------------------------------------------------------- agents
# Kernel settings the agents rely on: bridged IPv4/IPv6 frames go through iptables (the
# security groups are iptables rules on the taps); the agent sets the same sysctls itself.
neutron_host_setup() {
    local k
    for k in net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables; do
        [ "$(sysctl -n "$k" 2>/dev/null)" = 1 ] || sysctl -qw "$k=1" ||
            die "cannot set $k=1 (br_netfilter missing?)"
    done
    if ! ip link show "$NEUTRON_PHYS_IF" >/dev/null 2>&1; then
        ip link add "$NEUTRON_PHYS_IF" type veth peer name "${NEUTRON_PHYS_IF}p" ||
            die "cannot create the veth pair $NEUTRON_PHYS_IF for physnet1"
    fi
    ip link set "${NEUTRON_PHYS_IF}p" up
    ip link set "$NEUTRON_PHYS_IF" up
}

start_neutron_agents() {
    NEUTRON_AGENTS_T0=$EPOCHREALTIME
    # an agent (re)started now must report again: its old heartbeat does not count
    NEUTRON_AGENTS_SINCE=$(mysql_ -N -e 'SELECT UTC_TIMESTAMP() - INTERVAL 20 SECOND')
    if ! daemon_current neutron-linuxbridge-agent "${NEUTRON_LB_CMD[@]}" ||
        ! daemon_current neutron-dhcp-agent "${NEUTRON_DHCP_CMD[@]}"; then
        NEUTRON_AGENTS_SINCE=$(mysql_ -N -e 'SELECT UTC_TIMESTAMP()')
    fi
    neutron_host_setup
    start_daemon neutron-linuxbridge-agent neutron-linuxbridge-agent "${NEUTRON_LB_CMD[@]}"
    start_daemon neutron-dhcp-agent neutron-dhcp-agent "${NEUTRON_DHCP_CMD[@]}"
}
NEUTRON_LB_CMD=(env PATH="$NEUTRON_BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    /usr/bin/neutron-linuxbridge-agent --config-file "$NEUTRON_AGENT_CONF" --config-file "$NEUTRON_LB_CONF")
NEUTRON_DHCP_CMD=(/usr/bin/neutron-dhcp-agent --config-file "$NEUTRON_AGENT_CONF" --config-file "$NEUTRON_DHCP_CONF")

# neutron_agent_alive TYPE [SINCE] [HOST]: the agent of TYPE on HOST (default $COMPUTE_HOST)
# reported at or after SINCE (UTC; default: within 20 s) (cheap SQL)
neutron_agent_alive() {
    local since="UTC_TIMESTAMP() - INTERVAL 20 SECOND"
    [ -z "${2:-}" ] || since="'$2'"
    [ "$(mysql_ -N -e "SELECT COUNT(*) FROM neutron.agents WHERE host='${3:-$COMPUTE_HOST}' AND agent_type='$1' AND admin_state_up AND heartbeat_timestamp >= $since" 2>/dev/null)" -gt 0 ] 2>/dev/null
}

# wait_neutron_agents: both agents reported (port binding to $COMPUTE_HOST works from then on)
wait_neutron_agents() {
    local i name type
    for ((i = 0; i < 600; i++)); do
        if neutron_agent_alive 'Linux bridge agent' "${NEUTRON_AGENTS_SINCE:-}" &&
            neutron_agent_alive 'DHCP agent' "${NEUTRON_AGENTS_SINCE:-}"; then
            [ "$i" = 0 ] || log "neutron agents of $COMPUTE_HOST alive $(awk -v a="${NEUTRON_AGENTS_T0:-0}" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s after they were started"
            return 0
        fi
        for name in neutron-linuxbridge-agent neutron-dhcp-agent; do
            daemon_running "$name" || { tail -n 20 "$LOG_DIR/$name.log" >&2; die "$name exited (log: $LOG_DIR/$name.log)"; }
        done
        sleep 0.1
    done
    for type in 'Linux bridge agent' 'DHCP agent'; do
        neutron_agent_alive "$type" "${NEUTRON_AGENTS_SINCE:-}" || die "the $type of $COMPUTE_HOST did not report within 60 s (logs: $LOG_DIR/neutron-*-agent.log)"
    done
}

# stop_neutron_agents: the agents, then the dnsmasq processes the DHCP agent left (they run
# detached). Bridges, qdhcp namespaces and iptables rules stay: instance containers outlive a
# `down` and the agents take that state over again at the next `up`.
stop_neutron_agents() {
    local f pid
    run_jobs _stop_lb_agent _stop_dhcp_agent
    for f in "$DATA_DIR"/neutron/dhcp/*/pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null) || continue
        if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "dnsmasq.*$DATA_DIR/neutron/dhcp"; then
            log "stopping dnsmasq (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
}
_stop_lb_agent() { stop_daemon neutron-linuxbridge-agent 30 group; }
_stop_dhcp_agent() { stop_daemon neutron-dhcp-agent 30 group; }

# neutron_networks_exist: private/private-subnet and public/public-subnet are there (cheap SQL)
neutron_networks_exist() {
    [ "$(mysql_ -N -e "SELECT COUNT(*) FROM neutron.networks n JOIN neutron.subnets s ON s.network_id = n.id WHERE (n.name, s.name) IN (('private', 'private-subnet'), ('public', 'public-subnet'))" 2>/dev/null)" -ge 2 ] 2>/dev/null
}

# create_networks: the shared tenant network `private` (VXLAN, 10.20.0.0/24, DHCP) owned by
# admin, and the flat provider network `public` (physnet1, external, project service, no DHCP)
create_networks() {
    neutron_networks_exist && return 0
    log "creating the networks private and public"
    admin_env "$PYTHON" "$LOCAL_CLOUD_LIB/accounts.py" networks >>"$LOG_DIR/accounts.log" 2>&1 ||
        die "creating the networks failed (log: $LOG_DIR/accounts.log)"
}

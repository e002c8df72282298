# neutron-server (ML2, 127.0.0.1:9696, MariaDB). No agents: ports of `--nic none` servers need
# none; the Linux bridge mechanism driver is loaded so a neutron-linuxbridge-agent can be added.

NEUTRON_ETC=$ETC_DIR/neutron
NEUTRON_CONF_FILES=(--config-file "$NEUTRON_ETC/neutron.conf" --config-file "$NEUTRON_ETC/ml2_conf.ini")
DAEMON_CONFIGS[neutron-server]="$NEUTRON_ETC/neutron.conf $NEUTRON_ETC/ml2_conf.ini"
DAEMON_STOP_MODE[neutron-server]=group

configure_neutron() {
    mkdir -p "$DATA_DIR/neutron/lock"
    {
        cat <<EOF2
[DEFAULT]
bind_host = $SERVICE_HOST
bind_port = $NEUTRON_PORT
core_plugin = ml2
service_plugins = router
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

# Zed marks the Linux bridge driver experimental
[experimental]
linuxbridge = true

EOF2
        authtoken_section neutron
        echo
        service_credentials nova nova
        echo "endpoint_type = public"
    } | write_file "$NEUTRON_ETC/neutron.conf" || true
    write_file "$NEUTRON_ETC/ml2_conf.ini" <<EOF2 || true
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = linuxbridge
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

init_neutron() {
    step_done neutron-db && return 0
    log "initialising the Neutron database"
    create_mysql_db neutron neutron
    /usr/bin/neutron-db-manage "${NEUTRON_CONF_FILES[@]}" upgrade heads \
        >>"$LOG_DIR/neutron-db-manage.log" 2>&1 || die "neutron-db-manage failed (log: $LOG_DIR/neutron-db-manage.log)"
    mark_done neutron-db
}

start_neutron() {
    ensure_port_free neutron-server "$NEUTRON_PORT"
    start_daemon neutron-server neutron-server /usr/bin/neutron-server "${NEUTRON_CONF_FILES[@]}"
}

wait_neutron() { wait_for_http neutron-server "http://$SERVICE_HOST:$NEUTRON_PORT/" 120; }

stop_neutron() { stop_daemon neutron-server 30 group; }

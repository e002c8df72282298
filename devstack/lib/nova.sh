# Nova control plane: nova-api (uwsgi, 127.0.0.1:8774), nova-conductor, nova-scheduler,
# nova-serialproxy (the serial console's websocket proxy, 127.0.0.1:6083), MariaDB, cells v2. nova.conf holds no database URL: those are in nova-db.conf, which only the control
# plane reads (a compute host must not see [api_database]/connection).

NOVA_ETC=$ETC_DIR/nova
NOVA_CONF_FILES=(--config-file "$NOVA_ETC/nova.conf" --config-file "$NOVA_ETC/nova-db.conf")
DAEMON_CONFIGS[nova-conductor]="$NOVA_ETC/nova.conf $NOVA_ETC/nova-db.conf"
DAEMON_CONFIGS[nova-scheduler]="$NOVA_ETC/nova.conf $NOVA_ETC/nova-db.conf"
DAEMON_CONFIGS[nova-api]="$NOVA_ETC/nova.conf $NOVA_ETC/nova-db.conf $NOVA_ETC/api-paste.ini $ETC_DIR/uwsgi/nova-api.ini"
DAEMON_CONFIGS[nova-serialproxy]="$NOVA_ETC/nova.conf $NOVA_ETC/nova-db.conf"
DAEMON_STOP_MODE[nova-conductor]=group
DAEMON_STOP_MODE[nova-scheduler]=group

configure_nova() {
    mkdir -p "$DATA_DIR/nova/lock"
    {
        cat <<EOF2
[DEFAULT]
transport_url = $TRANSPORT_URL
my_ip = $SERVICE_HOST
state_path = $DATA_DIR/nova
enabled_apis = osapi_compute
osapi_compute_listen = $SERVICE_HOST
osapi_compute_workers = 1
# our compute reports every 5 s: a dead compute is down after 20 s
service_down_time = 20
allow_resize_to_same_host = True
debug = false

[api]
auth_strategy = keystone

[wsgi]
api_paste_config = $NOVA_ETC/api-paste.ini

[conductor]
workers = 1

[scheduler]
workers = 1
# local-cloud.sh up runs nova-manage cell_v2 discover_hosts itself
discover_hosts_in_cells_interval = -1

[filter_scheduler]
track_instance_changes = True
# Nova's default filters, and the one that keeps the servers of other projects off the compute
# hosts beyond the first (devstack/lib/compute_hosts.sh)
enabled_filters = ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter,AggregateMultiTenancyIsolation

[oslo_concurrency]
lock_path = $DATA_DIR/nova/lock

[oslo_messaging_notifications]
driver = noop

[vnc]
enabled = false

# Horizon's Console tab: the browser's websocket goes to nova-serialproxy, which checks the token
# in the cell database, asks the compute host to validate the port and splices the bytes to it
# (nova-container's [serial_console], devstack/lib/nova_container.sh)
[serial_console]
enabled = true
base_url = ws://$SERVICE_HOST:$NOVA_SERIALPROXY_PORT/
serialproxy_host = $SERVICE_HOST
serialproxy_port = $NOVA_SERIALPROXY_PORT

[glance]
region_name = $REGION_NAME
valid_interfaces = public

[cinder]
os_region_name = $REGION_NAME

[quota]
# npm test runs two test files at once against this cloud, both as admin: Nova's default of 10
# instances and 20 cores per project would refuse some of their servers
instances = 40
cores = 80

EOF2
        messaging_options
        echo
        authtoken_section nova
        echo
        service_credentials placement placement
        echo "valid_interfaces = public"
        echo
        service_credentials neutron neutron
        echo "valid_interfaces = public"
        echo "service_metadata_proxy = false"
        echo
        # service tokens with user tokens (OSSA-2023-003); the nova user has the service role
        service_credentials service_user nova
        echo "send_service_user_token = true"
    } | write_file "$NOVA_ETC/nova.conf" || true
    write_file "$NOVA_ETC/nova-db.conf" <<EOF2 || true
# Database URLs: read by the control plane only (nova-api, -conductor, -scheduler, -manage).
[database]
connection = $(database_url nova nova)

[api_database]
connection = $(database_url nova_api nova)
EOF2
    # nova's wsgi app loads its paste pipeline from the first of OS_NOVA_CONFIG_FILES
    write_file "$NOVA_ETC/api-paste.ini" 644 <"$(release_file /etc/nova/api-paste.ini)" || true
    write_uwsgi_ini nova-api "$NOVA_API_PORT" /usr/bin/nova-api-wsgi 2 1 \
        "env = OS_NOVA_CONFIG_DIR=$NOVA_ETC
env = OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf;nova-db.conf"
}

nova_manage() { "${RELEASE_EXEC[@]}" /usr/bin/nova-manage "${NOVA_CONF_FILES[@]}" "$@"; }

# cell1 keeps the transport URL it was created with (nova-api casts to computes through it):
# after the broker's address changed, the mapping must follow or every cast is refused.
sync_cell1_transport() {
    local url
    url=$(mysql_ -N -e "SELECT transport_url FROM nova_api.cell_mappings WHERE name='cell1'" 2>/dev/null) || return 0
    [ -z "$url" ] || [ "$url" = "$TRANSPORT_URL" ] && return 0
    log "cell1 still points at $url: updating it to the current broker"
    local uuid
    uuid=$(mysql_ -N -e "SELECT uuid FROM nova_api.cell_mappings WHERE name='cell1'")
    nova_manage cell_v2 update_cell --cell_uuid "$uuid" --transport-url "$TRANSPORT_URL" >>"$LOG_DIR/nova-manage.log" 2>&1 ||
        die "nova-manage cell_v2 update_cell failed (log: $LOG_DIR/nova-manage.log)"
    # running services cached the old mapping
    stop_daemon nova-api 30; stop_daemon nova-conductor 30; stop_daemon nova-scheduler 30
}

init_nova() {
    step_done nova-db && { sync_cell1_transport; return 0; }
    log "initialising Nova databases and cells v2"
    create_mysql_db nova_api nova
    create_mysql_db nova nova
    create_mysql_db nova_cell0 nova
    {
        nova_manage api_db sync &&
            nova_manage cell_v2 map_cell0 --database_connection "$(database_url nova_cell0 nova)" &&
            { nova_manage cell_v2 list_cells | grep -q ' cell1 ' ||
                nova_manage cell_v2 create_cell --name cell1 --verbose; } &&
            nova_manage db sync
    } >>"$LOG_DIR/nova-manage.log" 2>&1 || die "nova-manage failed (log: $LOG_DIR/nova-manage.log)"
    mark_done nova-db
}

start_nova() {
    ensure_port_free nova-api "$NOVA_API_PORT"
    start_daemon nova-conductor nova-conductor "${RELEASE_EXEC[@]}" /usr/bin/nova-conductor "${NOVA_CONF_FILES[@]}"
    start_daemon nova-scheduler nova-scheduler "${RELEASE_EXEC[@]}" /usr/bin/nova-scheduler "${NOVA_CONF_FILES[@]}"
    start_daemon nova-api "$ETC_DIR/uwsgi/nova-api.ini" "${RELEASE_EXEC[@]}" /usr/bin/uwsgi --ini "$ETC_DIR/uwsgi/nova-api.ini"
    ensure_port_free nova-serialproxy "$NOVA_SERIALPROXY_PORT"
    start_daemon nova-serialproxy nova-serialproxy "${RELEASE_EXEC[@]}" /usr/bin/nova-serialproxy "${NOVA_CONF_FILES[@]}"
}

wait_nova() {
    wait_for_http nova-api "http://$SERVICE_HOST:$NOVA_API_PORT/" 120
    wait_for_port nova-serialproxy "$SERVICE_HOST" "$NOVA_SERIALPROXY_PORT" 60
}

create_flavors() {
    step_done nova-flavors && return 0
    admin_env "$PYTHON" "$LOCAL_CLOUD_LIB/accounts.py" flavors >>"$LOG_DIR/accounts.log" 2>&1 ||
        die "creating flavors failed (log: $LOG_DIR/accounts.log)"
    mark_done nova-flavors
}

# host_mapped HOST: the host has a cell mapping (cheap SQL, no API call)
host_mapped() {
    [ "$(mysql_ -N -e "SELECT COUNT(*) FROM nova_api.host_mappings WHERE host='$1'" 2>/dev/null)" -gt 0 ] 2>/dev/null
}

# compute_node_registered HOST: nova-compute service row and compute node row exist
compute_node_registered() {
    [ "$(mysql_ -N -e "SELECT COUNT(*) FROM nova.compute_nodes WHERE host='$1' AND deleted=0" 2>/dev/null)" -gt 0 ] 2>/dev/null
}

discover_hosts() {
    nova_manage cell_v2 discover_hosts --verbose >>"$LOG_DIR/nova-manage.log" 2>&1 ||
        die "nova-manage cell_v2 discover_hosts failed (log: $LOG_DIR/nova-manage.log)"
}

_stop_nova_api() { stop_daemon nova-api 30; }
_stop_nova_serialproxy() { stop_daemon nova-serialproxy 30; }
_stop_nova_scheduler() { stop_daemon nova-scheduler 30 group; }
_stop_nova_conductor() { stop_daemon nova-conductor 30 group; }
stop_nova() { run_jobs _stop_nova_api _stop_nova_serialproxy _stop_nova_scheduler _stop_nova_conductor; }

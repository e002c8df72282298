# Placement (uwsgi, 127.0.0.1:8778, sqlite).

PLACEMENT_ETC=$ETC_DIR/placement
DAEMON_CONFIGS[placement]="$PLACEMENT_ETC/placement.conf $ETC_DIR/uwsgi/placement.ini"

configure_placement() {
    {
        cat <<EOF2
[DEFAULT]
debug = false

[placement_database]
connection = sqlite:///$DATA_DIR/placement.sqlite

[api]
auth_strategy = keystone

EOF2
        authtoken_section placement
    } | write_file "$PLACEMENT_ETC/placement.conf" || true
    # one process, one thread: sqlite objects are bound to their thread
    write_uwsgi_ini placement "$PLACEMENT_PORT" /usr/bin/placement-api 1 1 \
        "env = OS_PLACEMENT_CONFIG_DIR=$PLACEMENT_ETC"
}

init_placement() {
    step_done placement-db && return 0
    log "initialising Placement (db sync)"
    create_sqlite_db "$DATA_DIR/placement.sqlite"
    "${RELEASE_EXEC[@]}" /usr/bin/placement-manage --config-file "$PLACEMENT_ETC/placement.conf" db sync \
        >>"$LOG_DIR/placement-manage.log" 2>&1 || die "placement-manage db sync failed (log: $LOG_DIR/placement-manage.log)"
    mark_done placement-db
}

start_placement() {
    ensure_port_free placement "$PLACEMENT_PORT"
    start_daemon placement "$ETC_DIR/uwsgi/placement.ini" "${RELEASE_EXEC[@]}" /usr/bin/uwsgi --ini "$ETC_DIR/uwsgi/placement.ini"
}

wait_placement() { wait_for_http placement "http://$SERVICE_HOST:$PLACEMENT_PORT/" 90; }

stop_placement() { stop_daemon placement 30; }

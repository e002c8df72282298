# Glance (glance-api, 127.0.0.1:9292, sqlite, file store under the state dir).

GLANCE_ETC=$ETC_DIR/glance
DAEMON_CONFIGS[glance-api]=$GLANCE_ETC/glance-api.conf
DAEMON_STOP_MODE[glance-api]=group

configure_glance() {
    mkdir -p "$DATA_DIR/glance/images" "$DATA_DIR/glance/staging" "$DATA_DIR/glance/lock"
    {
        cat <<EOF2
[DEFAULT]
bind_host = $SERVICE_HOST
bind_port = $GLANCE_PORT
workers = 1
node_staging_uri = file://$DATA_DIR/glance/staging
image_cache_dir = $DATA_DIR/glance/image-cache
show_image_direct_url = false
enabled_import_methods = [glance-direct,web-download]

[database]
connection = sqlite:///$DATA_DIR/glance.sqlite

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = $DATA_DIR/glance/images/

[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini

[oslo_concurrency]
lock_path = $DATA_DIR/glance/lock

EOF2
        authtoken_section glance
    } | write_file "$GLANCE_ETC/glance-api.conf" || true
}

init_glance() {
    step_done glance-db && return 0
    log "initialising Glance (db_sync)"
    create_sqlite_db "$DATA_DIR/glance.sqlite"
    "${RELEASE_EXEC[@]}" /usr/bin/glance-manage --config-file "$GLANCE_ETC/glance-api.conf" db_sync \
        >>"$LOG_DIR/glance-manage.log" 2>&1 || die "glance-manage db_sync failed (log: $LOG_DIR/glance-manage.log)"
    mark_done glance-db
}

start_glance() {
    ensure_port_free glance-api "$GLANCE_PORT"
    start_daemon glance-api glance-api "${RELEASE_EXEC[@]}" /usr/bin/glance-api --config-file "$GLANCE_ETC/glance-api.conf"
}

wait_glance() { wait_for_http glance-api "http://$SERVICE_HOST:$GLANCE_PORT/" 90; }

stop_glance() { stop_daemon glance-api 30 group; }

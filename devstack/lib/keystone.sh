# Keystone (uwsgi, 127.0.0.1:5000, sqlite), the service catalog and the accounts.

KEYSTONE_ETC=$ETC_DIR/keystone
DAEMON_CONFIGS[keystone]="$KEYSTONE_ETC/keystone.conf $ETC_DIR/uwsgi/keystone.ini"

# authtoken_section USER: [keystone_authtoken] of a service whose Keystone user is USER
authtoken_section() {
    cat <<EOF2
[keystone_authtoken]
www_authenticate_uri = http://$SERVICE_HOST:$KEYSTONE_PORT
auth_url = http://$SERVICE_HOST:$KEYSTONE_PORT
auth_type = password
username = $1
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $REGION_NAME
service_token_roles_required = true
EOF2
}

# service_credentials SECTION USER: a keystoneauth password block for clients of other services
service_credentials() {
    cat <<EOF2
[$1]
auth_type = password
auth_url = $KEYSTONE_URL
username = $2
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $REGION_NAME
EOF2
}

configure_keystone() {
    write_file "$KEYSTONE_ETC/keystone.conf" <<EOF2 || true
[DEFAULT]
debug = false

[database]
connection = sqlite:///$DATA_DIR/keystone.sqlite

[token]
provider = fernet

[fernet_tokens]
key_repository = $KEYSTONE_ETC/fernet-keys/

[fernet_receipts]
key_repository = $KEYSTONE_ETC/fernet-keys/

[credential]
key_repository = $KEYSTONE_ETC/credential-keys/

[cache]
enabled = true
backend = dogpile.cache.memory
EOF2
    # one process, one thread: sqlite objects are bound to their thread
    write_uwsgi_ini keystone "$KEYSTONE_PORT" /usr/bin/keystone-wsgi-public 1 1 \
        "env = OS_KEYSTONE_CONFIG_FILES=$KEYSTONE_ETC/keystone.conf"
}

keystone_manage() { "${RELEASE_EXEC[@]}" /usr/bin/keystone-manage --config-file "$KEYSTONE_ETC/keystone.conf" "$@"; }

init_keystone() {
    step_done keystone-db && return 0
    log "initialising Keystone (db_sync, fernet keys, bootstrap)"
    create_sqlite_db "$DATA_DIR/keystone.sqlite"
    {
        keystone_manage db_sync &&
            keystone_manage fernet_setup --keystone-user root --keystone-group root &&
            keystone_manage credential_setup --keystone-user root --keystone-group root &&
            keystone_manage bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
            --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
            --bootstrap-service-name keystone --bootstrap-region-id "$REGION_NAME" \
            --bootstrap-admin-url "http://$SERVICE_HOST:$KEYSTONE_PORT/v3/" \
            --bootstrap-internal-url "http://$SERVICE_HOST:$KEYSTONE_PORT/v3/" \
            --bootstrap-public-url "http://$SERVICE_HOST:$KEYSTONE_PORT/v3/"
    } >>"$LOG_DIR/keystone-manage.log" 2>&1 || die "keystone-manage failed (log: $LOG_DIR/keystone-manage.log)"
    mark_done keystone-db
}

start_keystone() {
    ensure_port_free keystone "$KEYSTONE_PORT"
    start_daemon keystone "$ETC_DIR/uwsgi/keystone.ini" "${RELEASE_EXEC[@]}" /usr/bin/uwsgi --ini "$ETC_DIR/uwsgi/keystone.ini"
    wait_for_http keystone "http://$SERVICE_HOST:$KEYSTONE_PORT/v3" 60
}

stop_keystone() { stop_daemon keystone 30; }

# Projects, users, roles, services and endpoints (one Python process: each `openstack` call
# would cost ~2 s).
create_accounts() {
    step_done keystone-accounts-v2 && return 0
    log "creating projects, users, services and endpoints"
    admin_env "$PYTHON" "$LOCAL_CLOUD_LIB/accounts.py" accounts >>"$LOG_DIR/accounts.log" 2>&1 ||
        die "creating the Keystone accounts failed (log: $LOG_DIR/accounts.log)"
    mark_done keystone-accounts-v2
}

# admin_env CMD...: runs CMD with the admin credentials and the settings accounts.py reads
admin_env() {
    env OS_AUTH_URL="$KEYSTONE_URL" OS_USERNAME=admin OS_PASSWORD="$ADMIN_PASSWORD" \
        OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
        OS_REGION_NAME="$REGION_NAME" OS_IDENTITY_API_VERSION=3 OS_INTERFACE=public \
        LC_SERVICE_HOST="$SERVICE_HOST" LC_SERVICE_PASSWORD="$SERVICE_PASSWORD" \
        LC_DEMO_PASSWORD="$DEMO_PASSWORD" LC_GLANCE_PORT="$GLANCE_PORT" \
        LC_PLACEMENT_PORT="$PLACEMENT_PORT" LC_NOVA_API_PORT="$NOVA_API_PORT" \
        LC_NEUTRON_PORT="$NEUTRON_PORT" PYTHONPATH= "$@"
}

# admin_token: "TOKEN PROJECT_ID" of the admin in project admin (Keystone's password method,
# the password through jq's environment and curl's stdin: on no command line); nothing when
# Keystone gives none
admin_token() {
    local headers body token project
    headers=$(mktemp) body=$(mktemp)
    LC_ADMIN_PASSWORD=$ADMIN_PASSWORD jq -n '{auth: {identity: {methods: ["password"], password: {user:
        {name: "admin", domain: {id: "default"}, password: env.LC_ADMIN_PASSWORD}}},
        scope: {project: {name: "admin", domain: {id: "default"}}}}}' |
        curl -s --max-time 20 -D "$headers" -o "$body" -H 'Content-Type: application/json' \
            --data-binary @- "$KEYSTONE_URL/auth/tokens" || true
    token=$(tr -d '\r' <"$headers" | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}')
    project=$(jq -r '.token.project.id // empty' <"$body" 2>/dev/null || true)
    rm -f "$headers" "$body"
    if [ -n "$token" ] && [ -n "$project" ]; then echo "$token $project"; fi
}

# rc_file FILE WHAT USER PASSWORD PROJECT: an rc file of OS_* variables for one user
rc_file() {
    write_file "$1" 600 <<EOF2 || true
# $2 credentials of the local cloud (devstack/local-cloud.sh)
export OS_AUTH_URL=$KEYSTONE_URL
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=$3
export OS_PASSWORD=$4
export OS_PROJECT_NAME=$5
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=$REGION_NAME
export OS_INTERFACE=public
export OS_COMPUTE_API_VERSION=$OS_COMPUTE_API_VERSION_DEFAULT
EOF2
}

write_openrc() {
    rc_file "$LOCAL_CLOUD_DIR/openrc" admin admin "$ADMIN_PASSWORD" admin
    rc_file "$LOCAL_CLOUD_DIR/demorc" "non-admin (user demo, project demo)" demo "$DEMO_PASSWORD" demo
    # the project whose servers the compute hosts beyond the first take (lib/compute_hosts.sh)
    [ "$COMPUTE_HOSTS" = 1 ] || rc_file "$LOCAL_CLOUD_DIR/movesrc" "admin in project moves" admin "$ADMIN_PASSWORD" moves
}

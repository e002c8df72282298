# Heat (on unless HEAT=no): heat-api (uwsgi, 127.0.0.1:8004, /v1/<project id>) and heat-engine,
# database `heat` in MariaDB, Keystone accounts (service user heat, domain heat with its domain
# admin for stack users, roles heat_stack_owner and heat_stack_user, orchestration endpoint).
# Sourced by local-cloud.sh after the other libs (it uses mysql_, database_url, authtoken_section,
# admin_env). The packages' /etc/heat/heat.conf is not read: heat.conf lives under $ETC_DIR/heat.
# No heat-api-cfn: servers get their user data RAW (containers run no cloud-init or cfn tools)
# and software config goes through Heat's own API (POLL_SERVER_HEAT, HEAT_SIGNAL).

: "${HEAT_API_PORT:=8004}"
HEAT_ETC=$ETC_DIR/heat
HEAT_CONF=$HEAT_ETC/heat.conf
HEAT_DOMAIN=heat
HEAT_DOMAIN_ADMIN=heat_domain_admin
# heat-engine processes (Heat's default: max(4, CPUs)); two keep the convergence engine busy
# enough for the example templates and cost ~150 MB each
: "${HEAT_ENGINE_WORKERS:=2}"

HEAT_SERVICES=("heat-api:$HEAT_API_PORT" heat-engine:-)
DAEMON_CONFIGS[heat-api]="$HEAT_CONF $ETC_DIR/uwsgi/heat-api.ini"
DAEMON_CONFIGS[heat-engine]=$HEAT_CONF
# the engine forks its workers (oslo.service): stop the whole group
DAEMON_STOP_MODE[heat-engine]=group

heat_packages() { echo heat-api heat-engine; }
heat_host_packages() { echo python3-heatclient; }

# heat_auth_encryption_key: 32 characters (Heat refuses any other length, heat/common/config.py
# startup_sanity_check), made once: it encrypts the credentials Heat keeps in its database.
heat_auth_encryption_key() {
    local f=$DATA_DIR/heat/auth_encryption_key
    if [ ! -s "$f" ]; then
        mkdir -p "$DATA_DIR/heat"
        (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$f")
    fi
    cat "$f"
}

configure_heat() {
    mkdir -p "$DATA_DIR/heat/lock"
    {
        cat <<EOF2
[DEFAULT]
transport_url = $TRANSPORT_URL
auth_encryption_key = $(heat_auth_encryption_key)
# trusts: the engine acts later (updates, deletes, signals) as the trustee user heat
deferred_auth_method = trusts
# stack users (signals, wait conditions) live in a domain of their own
stack_user_domain_name = $HEAT_DOMAIN
stack_domain_admin = $HEAT_DOMAIN_ADMIN
stack_domain_admin_password = $SERVICE_PASSWORD
heat_stack_user_role = heat_stack_user
region_name_for_services = $REGION_NAME
num_engine_workers = $HEAT_ENGINE_WORKERS
# no heat-api-cfn here: the defaults HEAT_CFNTOOLS / POLL_SERVER_CFN / CFN_SIGNAL would look up
# a cloudformation endpoint that does not exist
default_user_data_format = RAW
default_software_config_transport = POLL_SERVER_HEAT
default_deployment_signal_transport = HEAT_SIGNAL
server_keystone_endpoint_type = public
debug = false

[heat_api]
bind_host = $SERVICE_HOST
bind_port = $HEAT_API_PORT

[database]
connection = $(database_url heat heat)

[paste_deploy]
api_paste_config = /etc/heat/api-paste.ini

[oslo_concurrency]
lock_path = $DATA_DIR/heat/lock

[oslo_messaging_notifications]
driver = noop

[clients]
endpoint_type = publicURL

[clients_keystone]
auth_uri = http://$SERVICE_HOST:$KEYSTONE_PORT

[ec2authtoken]
auth_uri = $KEYSTONE_URL

[trustee]
auth_type = password
auth_url = http://$SERVICE_HOST:$KEYSTONE_PORT
username = heat
password = $SERVICE_PASSWORD
user_domain_name = Default

EOF2
        messaging_options
        echo
        authtoken_section heat
    } | write_file "$HEAT_CONF" || true
    # heat-wsgi-api parses sys.argv like a command line: pyargv gives it our config file
    write_uwsgi_ini heat-api "$HEAT_API_PORT" /usr/bin/heat-wsgi-api 2 1 \
        "pyargv = --config-file $HEAT_CONF"
}

heat_manage() { "${RELEASE_EXEC[@]}" /usr/bin/heat-manage --config-file "$HEAT_CONF" "$@"; }

init_heat() {
    step_done heat-db && return 0
    log "initialising Heat (database, db_sync)"
    create_mysql_db heat heat
    heat_manage db_sync >>"$LOG_DIR/heat-manage.log" 2>&1 ||
        die "heat-manage db_sync failed (log: $LOG_DIR/heat-manage.log)"
    mark_done heat-db
}

# Keystone: what heat.conf names (users heat and heat_domain_admin, domain heat), the roles and
# the orchestration endpoint; one Python process like accounts.py.
create_heat_accounts() {
    step_done heat-accounts && return 0
    log "creating Heat's Keystone accounts and endpoint"
    admin_env LC_HEAT_PORT="$HEAT_API_PORT" LC_HEAT_DOMAIN="$HEAT_DOMAIN" \
        LC_HEAT_DOMAIN_ADMIN="$HEAT_DOMAIN_ADMIN" "$PYTHON" - >>"$LOG_DIR/accounts.log" 2>&1 <<'PY' ||
import os

import openstack

e = os.environ
conn = openstack.connect(
    auth_url=e["OS_AUTH_URL"], username=e["OS_USERNAME"], password=e["OS_PASSWORD"],
    project_name=e["OS_PROJECT_NAME"], user_domain_name="Default",
    project_domain_name="Default", region_name=e["OS_REGION_NAME"], interface="public",
    identity_api_version="3")
idc = conn.identity


def role(name):
    return idc.find_role(name) or idc.create_role(name=name)


def user(name, domain_id, **attrs):
    u = idc.find_user(name, domain_id=domain_id)
    if u is None:
        u = idc.create_user(name=name, domain_id=domain_id, password=e["LC_SERVICE_PASSWORD"],
                            **attrs)
        print("user", name, "created")
    else:
        idc.update_user(u, password=e["LC_SERVICE_PASSWORD"])
    return u


admin, service_role = role("admin"), role("service")
owner, role_stack_user = role("heat_stack_owner"), role("heat_stack_user")
service = idc.find_project("service", domain_id="default")
heat = user("heat", "default", default_project_id=service.id)
idc.assign_project_role_to_user(service, heat, admin)
idc.assign_project_role_to_user(service, heat, service_role)

# the domain of stack users and projects, and its admin (stack_domain_admin in heat.conf)
domain = idc.find_domain(e["LC_HEAT_DOMAIN"])
if domain is None:
    domain = idc.create_domain(name=e["LC_HEAT_DOMAIN"], description="Heat stack projects and users")
    print("domain", domain.name, "created")
domain_admin = user(e["LC_HEAT_DOMAIN_ADMIN"], domain.id)
idc.assign_domain_role_to_user(domain, domain_admin, admin)

# users who may own stacks (Heat's policy does not require the role; kept for templates and
# dashboards that look for it)
for pname, uname in (("admin", "admin"), ("demo", "demo")):
    p = idc.find_project(pname, domain_id="default")
    u = idc.find_user(uname, domain_id="default")
    if p is not None and u is not None:
        idc.assign_project_role_to_user(p, u, owner)

svc = next((s for s in idc.services() if s.type == "orchestration"), None)
if svc is None:
    svc = idc.create_service(name="heat", type="orchestration", enabled=True,
                             description="orchestration of the local cloud")
    print("service heat created")
url = "http://%s:%s/v1/%%(project_id)s" % (e["LC_SERVICE_HOST"], e["LC_HEAT_PORT"])
existing = {ep.interface: ep for ep in idc.endpoints(service_id=svc.id)}
for interface in ("public", "internal", "admin"):
    ep = existing.get(interface)
    if ep is None:
        idc.create_endpoint(service_id=svc.id, interface=interface, url=url,
                            region_id=e["OS_REGION_NAME"], enabled=True)
        print("endpoint orchestration", interface, url, "created")
    elif ep.url != url:
        idc.update_endpoint(ep, url=url)
        print("endpoint orchestration", interface, "moved to", url)
PY
        die "creating Heat's Keystone accounts failed (log: $LOG_DIR/accounts.log)"
    mark_done heat-accounts
}

start_heat() {
    ensure_port_free heat-api "$HEAT_API_PORT"
    start_daemon heat-engine heat-engine "${RELEASE_EXEC[@]}" /usr/bin/heat-engine --config-file "$HEAT_CONF"
    start_daemon heat-api "$ETC_DIR/uwsgi/heat-api.ini" "${RELEASE_EXEC[@]}" /usr/bin/uwsgi --ini "$ETC_DIR/uwsgi/heat-api.ini"
}

# wait_heat_engine: an engine worker has a row in heat.service written since the engine's
# process started (each worker writes it right after its RPC server started, then every
# periodic_interval = 60 s).
wait_heat_engine() {
    local pid since i n
    pid=$(daemon_pid heat-engine) || die "heat-engine is not running (log: $LOG_DIR/heat-engine.log)"
    # the process's start (a second early), as Heat stores times: UTC, naive
    since=$(date -u -d "@$(($(date +%s) - $(ps -o etimes= -p "$pid") - 1))" '+%F %T')
    for ((i = 0; i < 600; i++)); do
        n=$(mysql_ -N -e "SELECT COUNT(*) FROM heat.service WHERE deleted_at IS NULL AND COALESCE(updated_at, created_at) >= '$since'" 2>/dev/null || echo 0)
        [ "${n:-0}" -gt 0 ] && return 0
        daemon_running heat-engine || {
            tail -n 20 "$LOG_DIR/heat-engine.log" >&2 || true
            die "heat-engine exited (log: $LOG_DIR/heat-engine.log)"
        }
        sleep 0.2
    done
    die "heat-engine registered no service row in 120 s (log: $LOG_DIR/heat-engine.log)"
}

# wait_heat_api: heat-api answers a token-authenticated request that it passes to the engine
# over RPC (GET /v1/<project>/services lists the engines: API, Keystone, broker and engine work)
wait_heat_api() {
    wait_for_http heat-api "http://$SERVICE_HOST:$HEAT_API_PORT/" 90
    local auth token project i code
    auth=$(admin_token)
    [ -n "$auth" ] || die "no admin token from Keystone to check heat-api"
    token=${auth% *} project=${auth#* }
    for ((i = 0; i < 60; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 70 -H "X-Auth-Token: $token" \
            "http://$SERVICE_HOST:$HEAT_API_PORT/v1/$project/services" || true)
        [ "$code" = 200 ] && return 0
        daemon_running heat-api || die "heat-api exited (log: $LOG_DIR/heat-api.log)"
        sleep 1
    done
    die "heat-api does not list its engines (last HTTP status $code; logs: $LOG_DIR/heat-api.log, $LOG_DIR/heat-engine.log)"
}

up_heat() {
    local t0=$SECONDS
    configure_heat
    init_heat
    create_heat_accounts
    start_heat
    wait_heat_engine
    wait_heat_api
    log "Heat is up ($((SECONDS - t0)) s): http://$SERVICE_HOST:$HEAT_API_PORT/v1"
}

_stop_heat_api() { stop_daemon heat-api 30; }
_stop_heat_engine() { stop_daemon heat-engine 30 group; }
down_heat() { run_jobs _stop_heat_api _stop_heat_engine; }

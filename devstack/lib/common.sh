# Shared helpers of the local cloud (sourced by devstack/local-cloud.sh and a devstack plugin).
# Every function is small and idempotent. Nothing here binds to anything but 127.0.0.1.

: "${LOCAL_CLOUD_DIR:?is set first (lib/cloud-dir.sh)}"

log() { printf '%s [local-cloud] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '%s [local-cloud] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# Settings a first `up` used (ports, passwords, host name) are kept in $LOCAL_CLOUD_DIR/settings
# and apply to later runs; a variable set in the environment still wins.
LOCAL_CLOUD_SETTINGS=(SERVICE_HOST REGION_NAME ADMIN_PASSWORD SERVICE_PASSWORD DEMO_PASSWORD
    RABBIT_USER RABBIT_PASSWORD DATABASE_PASSWORD COMPUTE_HOST KEYSTONE_PORT GLANCE_PORT
    PLACEMENT_PORT NOVA_API_PORT NOVA_SERIALPROXY_PORT NEUTRON_PORT RABBIT_PORT RABBIT_DIST_PORT MYSQL_PORT RABBIT_NODE
    DOCKERD_EXTRA_ARGS DOCKER_DISK_GB DOCKER_USERNS NEUTRON_AGENTS HEAT HORIZON HEAT_API_PORT HORIZON_PORT OPENSTACK_RELEASE
    RABBIT_QUORUM_QUEUES CONTAINER_ENGINE COMPUTE_HOSTS)
# fixed_setting NAME DEFAULT HOW: NAME as the settings keep it (DEFAULT in settings from before
# they kept it); a different value from the environment stops `up` (HOW: printf format of what
# the directory holds, given the kept value)
fixed_setting() {
    local name=$1 default=$2 how=$3 v
    v=$(sed -n "s/^$name=//p" "$LOCAL_CLOUD_DIR/settings")
    v=${v:-$default}
    if [ -n "${!name:-}" ] && [ "$v" != "${!name}" ]; then
        # shellcheck disable=SC2059
        die "$LOCAL_CLOUD_DIR $(printf "$how" "$v"), not ${!name}: leave $name out, or set LOCAL_CLOUD_DIR to another directory"
    fi
    printf -v "$name" '%s' "$v"
}

load_settings() {
    local k v
    [ -f "$LOCAL_CLOUD_DIR/settings" ] || return 0
    # a directory holds one release's cloud: its databases are that release's (Zed's before
    # releases were kept, the only release then); its servers are the containers of one engine
    fixed_setting OPENSTACK_RELEASE zed 'holds a %s cloud'
    fixed_setting CONTAINER_ENGINE docker 'runs its servers on %s'
    while IFS='=' read -r k v; do
        case " ${LOCAL_CLOUD_SETTINGS[*]} " in *" $k "*) ;; *) continue ;; esac
        [ -n "${!k+x}" ] || printf -v "$k" '%s' "$v"
    done <"$LOCAL_CLOUD_DIR/settings"
}
load_settings

# A setting with no value yet (HEAT_API_PORT before HEAT=yes) is left out: under set -u it
# would end the loop there and cut the file short, losing the settings after it (the release).
save_settings() {
    local k
    for k in "${LOCAL_CLOUD_SETTINGS[@]}"; do
        [ -z "${!k+x}" ] || printf '%s=%s\n' "$k" "${!k}"
    done | write_file "$LOCAL_CLOUD_DIR/settings" 600 || true
}
: "${OPENSTACK_RELEASE:=$DEFAULT_OPENSTACK_RELEASE}"
# yes: every service declares its topic queues as RabbitMQ quorum queues, as kolla-ansible
# sets it up (the default from 2025.1); kept in the settings: a queue cannot change its type
: "${RABBIT_QUORUM_QUEUES:=$([ "$OPENSTACK_RELEASE" = zed ] && echo no || echo yes)}"
: "${SERVICE_HOST:=127.0.0.1}"
: "${REGION_NAME:=RegionOne}"
: "${ADMIN_PASSWORD:=admin}"
: "${SERVICE_PASSWORD:=service}"
: "${DEMO_PASSWORD:=demo}"
: "${RABBIT_USER:=openstack}"
: "${RABBIT_PASSWORD:=rabbit}"
: "${DATABASE_PASSWORD:=dbpass}"
: "${COMPUTE_HOST:=$(hostname -s)}"
: "${PYTHON:=/usr/bin/python3}"
: "${OPENSTACK:=/usr/bin/openstack}"
: "${DOCKERD_EXTRA_ARGS:=}"   # e.g. "--bridge=none --iptables=false" for a second cloud
# the engine instances run on: docker (lib/docker.sh) or podman (lib/podman.sh); a new
# directory's default is its release's (lib/cloud-dir.sh)
: "${CONTAINER_ENGINE:=$(release_default_engine "$OPENSTACK_RELEASE")}"
case $CONTAINER_ENGINE in docker | podman) ;; *) die "CONTAINER_ENGINE=$CONTAINER_ENGINE: docker or podman" ;; esac
: "${DOCKER_DISK_GB:=40}"      # the engine's btrfs store (lib/btrfs_store.sh)
# compute hosts: the cloud's own, and each one more in a network namespace (lib/compute_hosts.sh)
: "${COMPUTE_HOSTS:=1}"
[[ $COMPUTE_HOSTS =~ ^[1-9]$ ]] || die "COMPUTE_HOSTS=$COMPUTE_HOSTS: a number of compute hosts, 1 to 9"
: "${DOCKER_USERNS:=yes}"      # containers' root remapped to unprivileged host ids
# yes: neutron-linuxbridge-agent and neutron-dhcp-agent run (one cloud per machine: their
# bridges, vxlan-<VNI> devices, iptables chains and ebtables rules are the host's); no: none
: "${NEUTRON_AGENTS:=yes}"
# yes: Heat (heat-api, heat-engine) / Horizon (openstack-dashboard) run too (devstack/README.md)
# on by default: the users of container servers live in Horizon and Heat
: "${HEAT:=yes}"
: "${HORIZON:=yes}"

: "${KEYSTONE_PORT:=5000}"
: "${GLANCE_PORT:=9292}"
: "${PLACEMENT_PORT:=8778}"
: "${NOVA_API_PORT:=8774}"
: "${NOVA_SERIALPROXY_PORT:=6083}"
: "${NEUTRON_PORT:=9696}"
: "${RABBIT_PORT:=5672}"
: "${RABBIT_DIST_PORT:=25672}"
: "${EPMD_PORT:=4369}"
: "${MYSQL_PORT:=3306}"

# messaging_options: the [oslo_messaging_rabbit] section every service of the cloud shares
messaging_options() {
    echo "[oslo_messaging_rabbit]"
    [ "$RABBIT_QUORUM_QUEUES" != yes ] || echo "rabbit_quorum_queue = true"
}

KEYSTONE_URL="http://$SERVICE_HOST:$KEYSTONE_PORT/v3"
TRANSPORT_URL="rabbit://$RABBIT_USER:$RABBIT_PASSWORD@$SERVICE_HOST:$RABBIT_PORT/"

ETC_DIR=$LOCAL_CLOUD_DIR/etc
DATA_DIR=$LOCAL_CLOUD_DIR/data
LOG_DIR=$LOCAL_CLOUD_DIR/logs
RUN_DIR=$LOCAL_CLOUD_DIR/run
STATE_DIR=$LOCAL_CLOUD_DIR/state        # markers of one-time steps (db syncs, bootstrap, ...)


ensure_dirs() {
    mkdir -p "$ETC_DIR" "$DATA_DIR" "$LOG_DIR" "$RUN_DIR" "$STATE_DIR" "$OVERRIDE_DIR"
    chmod 700 "$OVERRIDE_DIR"
    chmod 755 "$LOCAL_CLOUD_DIR"
    chmod 711 "$ETC_DIR"   # files holding passwords are 600 root
    save_settings
}

# An operator's additions to the generated configuration, kept across `up`: the file
# $OVERRIDE_DIR/<path under etc/> (e.g. overrides/nova/nova.conf, overrides/nova-container.conf)
# is appended to the file up writes there. oslo.config and nova-container take the last value
# of a key given twice, and sections may repeat. Not for JSON (docker/daemon.json).
OVERRIDE_DIR=$LOCAL_CLOUD_DIR/overrides

# write_file PATH [MODE] < content: replaces PATH only when the content differs (with the
# override of a file under etc/ appended). Returns 0 when the file changed, 1 when it was
# already up to date.
write_file() {
    local path=$1 mode=${2:-600} tmp rel
    mkdir -p "$(dirname "$path")"
    tmp=$(mktemp "$path.XXXXXX")
    cat >"$tmp"
    rel=${path#"$ETC_DIR"/}
    if [ "$rel" != "$path" ] && [ -f "$OVERRIDE_DIR/$rel" ]; then
        printf '\n# from %s\n' "$OVERRIDE_DIR/$rel" >>"$tmp"
        cat "$OVERRIDE_DIR/$rel" >>"$tmp"
    fi
    chmod "$mode" "$tmp"
    if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
        rm -f "$tmp"
        return 1
    fi
    mv -f "$tmp" "$path"
    return 0
}

# One-time steps: step_done NAME / mark_done NAME
step_done() { [ -f "$STATE_DIR/$1.done" ]; }
mark_done() { touch "$STATE_DIR/$1.done"; }

# raise_key_quota: runc gives each container a session keyring, charged to the host uid of
# its root. With user namespace remapping every container's root is the same uid, and the
# kernel's default quota for a user (kernel.keys.maxkeys 200, maxbytes 20000) stopped every
# start past about 100 servers ("unable to create session key: disk quota exceeded"). Room
# for 20000 keys (10000 servers, two containers each; about 70 bytes a key); never lowered.
raise_key_quota() {
    local name value
    for name in maxkeys:20000 maxbytes:1400000; do
        value=${name#*:} name=${name%%:*}
        [ "$(cat "/proc/sys/kernel/keys/$name")" -ge "$value" ] || sysctl -qw "kernel.keys.$name=$value" ||
            log "warning: cannot raise kernel.keys.$name to $value: with user namespace remapping, container starts fail past about 100 servers"
    done
}

# ---------------------------------------------------------------- daemons
# A daemon NAME has $RUN_DIR/NAME.pid (the process we started, setsid'd so it leads its own
# process group) and logs to $LOG_DIR/NAME.log. $RUN_DIR/NAME.match holds a string its
# /proc/PID/cmdline must contain (guards against a recycled PID).

daemon_pid() {
    local name=$1 pid match
    [ -f "$RUN_DIR/$name.pid" ] || return 1
    pid=$(cat "$RUN_DIR/$name.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    match=$(cat "$RUN_DIR/$name.match" 2>/dev/null || true)
    if [ -n "$match" ]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$match" || return 1
    fi
    # a zombie is not running
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    echo "$pid"
}

daemon_running() { daemon_pid "$1" >/dev/null; }

# DAEMON_CONFIGS[NAME]: the files NAME reads; when they (or its command line) changed since
# it was started, `start_daemon` restarts it. DAEMON_STOP_MODE[NAME]: pid (default) or group.
declare -gA DAEMON_CONFIGS=() DAEMON_STOP_MODE=()

# daemon_sum NAME CMD...: checksum of NAME's config files and command line
daemon_sum() {
    local name=$1
    shift
    { printf '%s\n' "$@"; for f in ${DAEMON_CONFIGS[$name]:-}; do cat "$f" 2>/dev/null; done; } | md5sum | cut -c1-32
}

# daemon_current NAME CMD...: NAME runs with the current config (a daemon started before
# checksums were kept counts as current)
daemon_current() {
    local name=$1 sum old
    daemon_running "$name" || return 1
    sum=$(daemon_sum "$@")
    old=$(cat "$RUN_DIR/$name.confsum" 2>/dev/null || true)
    if [ -z "$old" ]; then
        echo "$sum" >"$RUN_DIR/$name.confsum"
        return 0
    fi
    [ "$sum" = "$old" ]
}

# start_daemon NAME MATCH CMD ARGS... : starts CMD in its own session, stdout+stderr to the
# log, unless it already runs with the same config; restarts it when its config changed.
start_daemon() {
    local name=$1 match=$2 pid i
    shift 2
    if daemon_current "$name" "$@"; then
        return 0
    fi
    if daemon_running "$name"; then
        log "$name: configuration changed, restarting it"
        stop_daemon "$name" 30 "${DAEMON_STOP_MODE[$name]:-pid}"
    fi
    log "starting $name"
    echo "$match" >"$RUN_DIR/$name.match"
    daemon_sum "$name" "$@" >"$RUN_DIR/$name.confsum"
    # setsid: own session and process group; nohup-like: stdin from /dev/null
    # 9>&-: the lock local-cloud.sh holds while it works must not live on in the daemons
    setsid "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$RUN_DIR/$name.pid"
    # until the child has exec'd, its command line is still this script's and daemon_running
    # would call it gone: wait for the exec (or the child's end)
    for ((i = 0; i < 100; i++)); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$match" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
}

# stop_daemon NAME [TIMEOUT] [group]: SIGTERM, wait, then SIGKILL. With "group", the signals go
# to the daemon's whole process group (it leads one since we setsid'd it).
stop_daemon() {
    local name=$1 timeout=${2:-30} mode=${3:-${DAEMON_STOP_MODE[$1]:-pid}} pid i target
    if ! pid=$(daemon_pid "$name"); then
        rm -f "$RUN_DIR/$name.pid"
        return 0
    fi
    target=$pid
    [ "$mode" = group ] && target=-$pid
    log "stopping $name (pid $pid)"
    kill -TERM -- "$target" 2>/dev/null || true
    # a stopped (SIGSTOP) process takes its TERM only once continued, as systemd's stop does
    kill -CONT -- "$target" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name did not exit in ${timeout}s, killing it"
        kill -KILL -- "$target" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.confsum"
}

# stop_daemons NAME...: stop_daemon of each at once (each takes a couple of seconds to exit
# after its TERM), for daemons none of which needs another to stop cleanly
stop_daemons() {
    local name pids=()
    for name in "$@"; do
        stop_daemon "$name" 30 &
        pids+=($!)
    done
    wait "${pids[@]}"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# ensure_port_free NAME PORT: before starting NAME, its port must not be taken by another
# process (a broker or database someone else started would silently stand in for ours).
ensure_port_free() {
    local name=$1 port=$2
    daemon_running "$name" && return 0
    if port_open "$SERVICE_HOST" "$port"; then
        die "$SERVICE_HOST:$port (for $name) is already taken by another process ($(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:.*' | head -1)); stop it or set another port (devstack/README.md)"
    fi
}

# wait_for_port NAME HOST PORT [TIMEOUT]: fails early if the daemon died.
wait_for_port() {
    local name=$1 host=$2 port=$3 timeout=${4:-60} i
    for ((i = 0; i < timeout * 10; i++)); do
        port_open "$host" "$port" && return 0
        if ! daemon_running "$name"; then
            tail -n 20 "$LOG_DIR/$name.log" >&2 || true
            die "$name exited before listening on $host:$port (log: $LOG_DIR/$name.log)"
        fi
        sleep 0.1
    done
    tail -n 20 "$LOG_DIR/$name.log" >&2 || true
    die "$name does not listen on $host:$port after ${timeout}s (log: $LOG_DIR/$name.log)"
}

# wait_for_http NAME URL [TIMEOUT]: any HTTP answer counts.
wait_for_http() {
    local name=$1 url=$2 timeout=${3:-60} i
    for ((i = 0; i < timeout * 5; i++)); do
        if curl -s -o /dev/null --max-time 2 "$url"; then return 0; fi
        daemon_running "$name" || {
            tail -n 20 "$LOG_DIR/$name.log" >&2 || true
            die "$name exited (log: $LOG_DIR/$name.log)"
        }
        sleep 0.2
    done
    die "$name does not answer at $url after ${timeout}s (log: $LOG_DIR/$name.log)"
}

# run_jobs FUNC...: runs each function in a background subshell, waits for all, fails if any did
run_jobs() {
    local pids=() f rc=0 i=0
    for f in "$@"; do
        ( "$f" ) &
        pids+=($!)
    done
    for f in "$@"; do
        wait "${pids[$i]}" || { log "step $f failed"; rc=1; }
        i=$((i + 1))
    done
    return $rc
}

# ---------------------------------------------------------------- sqlite
# create_sqlite_db PATH: creates the file in WAL mode (else keystone answers 500 "database is
# locked" under concurrent readers).
create_sqlite_db() {
    local path=$1
    mkdir -p "$(dirname "$path")"
    if [ ! -s "$path" ]; then
        "$PYTHON" - "$path" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA journal_mode=WAL")
c.close()
PY
    fi
}

# ---------------------------------------------------------------- uwsgi
# write_uwsgi_ini NAME PORT WSGI_FILE PROCESSES THREADS [EXTRA_LINES]
# worker-reload-mercy: a worker that has not exited 10 s after SIGTERM is killed by the master
# (uwsgi waits 60 s by default, longer than stop_daemon's wait before its SIGKILL).
write_uwsgi_ini() {
    local name=$1 port=$2 wsgi=$3 procs=$4 threads=$5 extra=${6:-}
    {
        cat <<EOF2
[uwsgi]
plugins = python3
http-socket = $SERVICE_HOST:$port
wsgi-file = $wsgi
processes = $procs
threads = $threads
master = true
lazy-apps = true
die-on-term = true
worker-reload-mercy = 10
no-orphans = true
enable-threads = true
buffer-size = 65535
add-header = Connection: close
http-auto-chunked = true
http-chunked-input = true
http-raw-body = true
wsgi-manage-chunked-input = true
socket-timeout = 60
listen = 100
name = $name
chdir = $DATA_DIR
EOF2
        [ -z "$extra" ] || printf '%s\n' "$extra"
    } | write_file "$ETC_DIR/uwsgi/$name.ini" 600 || true
}

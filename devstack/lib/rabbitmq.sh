# RabbitMQ on 127.0.0.1:5672 (epmd and the Erlang distribution on 127.0.0.1 too).

# the default node name, so that a plain `rabbitmqctl` (and test/helpers/rabbitmq.ts) reaches it
: "${RABBIT_NODE:=rabbit@$(hostname -s)}"
RABBIT_ETC=$ETC_DIR/rabbitmq
RABBIT_DATA=$DATA_DIR/rabbitmq
DAEMON_CONFIGS[rabbitmq]="$RABBIT_ETC/rabbitmq-env.conf $RABBIT_ETC/rabbitmq.conf $RABBIT_ETC/enabled_plugins"

# the rabbitmq user runs the broker and rabbitmqctl; the Erlang cookie is in its home
RABBIT_AS_USER=("${RELEASE_EXEC[@]}" setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups
    env HOME=/var/lib/rabbitmq RABBITMQ_CONF_ENV_FILE="$RABBIT_ETC/rabbitmq-env.conf"
    ERL_EPMD_ADDRESS="$SERVICE_HOST")

rabbitmqctl_() { "${RABBIT_AS_USER[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBIT_NODE" "$@"; }

configure_rabbitmq() {
    in_release install -d -o rabbitmq -g rabbitmq -m 750 "$RABBIT_DATA" "$LOG_DIR/rabbitmq"
    in_release install -d -o root -g rabbitmq -m 750 "$RABBIT_ETC"
    write_file "$RABBIT_ETC/rabbitmq-env.conf" 640 <<EOF2 || true
NODENAME=$RABBIT_NODE
NODE_IP_ADDRESS=$SERVICE_HOST
NODE_PORT=$RABBIT_PORT
DIST_PORT=$RABBIT_DIST_PORT
MNESIA_BASE=$RABBIT_DATA/mnesia
LOG_BASE=$LOG_DIR/rabbitmq
PID_FILE=$RABBIT_DATA/rabbitmq.pid
CONFIG_FILE=$RABBIT_ETC/rabbitmq.conf
ENABLED_PLUGINS_FILE=$RABBIT_ETC/enabled_plugins
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export ERL_EPMD_ADDRESS=$SERVICE_HOST
EOF2
    write_file "$RABBIT_ETC/rabbitmq.conf" 640 <<EOF2 || true
listeners.tcp.default = $SERVICE_HOST:$RABBIT_PORT
distribution.listener.interface = $SERVICE_HOST
distribution.listener.port_range.min = $RABBIT_DIST_PORT
distribution.listener.port_range.max = $RABBIT_DIST_PORT
log.console = true
log.file = false
EOF2
    write_file "$RABBIT_ETC/enabled_plugins" 640 <<<"[]." || true
    # the broker's own rabbitmqctl (its release's, its cookie) for tests and operators
    write_file "$LOCAL_CLOUD_DIR/bin/rabbitmqctl" 755 <<EOF2 || true
#!/bin/sh
# rabbitmqctl of the local cloud's broker (written by devstack/lib/rabbitmq.sh)
exec $(printf '%q ' "${RABBIT_AS_USER[@]}")/usr/lib/rabbitmq/bin/rabbitmqctl -n $(printf '%q' "$RABBIT_NODE") "\$@"
EOF2
    in_release chgrp rabbitmq "$RABBIT_ETC"/*
}

start_rabbitmq() {
    ensure_port_free rabbitmq "$RABBIT_PORT"
    ensure_port_free rabbitmq "$RABBIT_DIST_PORT"
    daemon_current rabbitmq "${RABBIT_AS_USER[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server && return 0
    local epmd_before
    epmd_before=$(pgrep -x epmd || true)
    start_daemon rabbitmq rabbitmq-server "${RABBIT_AS_USER[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server
    # remember the epmd our broker starts (none when another Erlang node had one running)
    if [ -z "$epmd_before" ]; then
        echo epmd >"$RUN_DIR/epmd.match"
        echo new >"$RUN_DIR/epmd.pid"
    fi
}

wait_rabbitmq() {
    wait_for_port rabbitmq "$SERVICE_HOST" "$RABBIT_PORT" 90
    if [ "$(cat "$RUN_DIR/epmd.pid" 2>/dev/null)" = new ]; then
        pgrep -x epmd >"$RUN_DIR/epmd.pid" || rm -f "$RUN_DIR/epmd.pid"
    fi
}

init_rabbitmq() {
    # the user lives in the node's database: a new node name means a new database
    step_done "rabbitmq-user-$RABBIT_NODE" && return 0
    rabbitmqctl_ await_startup --timeout 60
    if ! rabbitmqctl_ list_users | awk '{print $1}' | grep -qx "$RABBIT_USER"; then
        rabbitmqctl_ add_user "$RABBIT_USER" "$RABBIT_PASSWORD"
    fi
    rabbitmqctl_ set_permissions -p / "$RABBIT_USER" '.*' '.*' '.*'
    mark_done "rabbitmq-user-$RABBIT_NODE"
}

stop_rabbitmq() {
    stop_daemon rabbitmq 60
    # the epmd our broker started, unless another Erlang node now uses it
    if daemon_running epmd && ! in_release env ERL_EPMD_ADDRESS=$SERVICE_HOST epmd -names 2>/dev/null | grep -q '^name '; then
        stop_daemon epmd 10
    fi
    rm -f "$RUN_DIR/epmd.pid"
}

# OVN for Neutron's ML2/OVN (NEUTRON_BACKEND=ovn): the central part (NB and SB databases,
# ovn-northd) and, as the compute host's own switch, Open vSwitch (ovsdb-server, ovs-vswitchd
# with the userspace `netdev` datapath: this kernel has no openvswitch module) and
# ovn-controller, whose chassis is the compute host ($COMPUTE_HOST: ML2/OVN binds a port to a
# host only when a chassis of that name is alive). Everything listens on unix sockets under
# $RUN_DIR; nova-container plugs its ports into br-int through $OVS_DB_SOCK.

OVN_RUN=$RUN_DIR/ovn
OVN_DATA=$DATA_DIR/ovn
OVS_RUN=$RUN_DIR/openvswitch
OVS_DATA=$DATA_DIR/openvswitch
OVN_NB_SOCK=$OVN_RUN/ovnnb_db.sock
OVN_SB_SOCK=$OVN_RUN/ovnsb_db.sock
OVS_DB_SOCK=$OVS_RUN/db.sock
OVN_CENTRAL_SERVICES=(ovn-nb-db:- ovn-sb-db:- ovn-northd:-)
OVN_HOST_SERVICES=(ovsdb-server:- ovs-vswitchd:- ovn-controller:-)   # not with NEUTRON_AGENTS=no

# OVS and OVN tools find their sockets and control files here (else /var/run/...)
OVN_ENV=(env OVS_RUNDIR="$OVS_RUN" OVS_DBDIR="$OVS_DATA" OVN_RUNDIR="$OVN_RUN" OVS_LOGDIR="$LOG_DIR")
ovs_vsctl() { "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovs-vsctl --db="unix:$OVS_DB_SOCK" --timeout=10 "$@"; }
ovn_nbctl() { "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovn-nbctl --db="unix:$OVN_NB_SOCK" --timeout=10 "$@"; }
ovn_sbctl() { "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovn-sbctl --db="unix:$OVN_SB_SOCK" --timeout=10 "$@"; }

# ovsdb_create DB SCHEMA: the database file, once
ovsdb_create() {
    [ -s "$1" ] && return 0
    mkdir -p "$(dirname "$1")"
    "${RELEASE_EXEC[@]}" ovsdb-tool create "$1" "$2" || die "ovsdb-tool create $1 failed"
}

# wait_for_ovsdb NAME SOCKET: the ovsdb-server NAME answers on SOCKET (a socket file left by
# a server that was killed is there too, but refuses connections)
wait_for_ovsdb() {
    local i
    for ((i = 0; i < 300; i++)); do
        "${RELEASE_EXEC[@]}" ovsdb-client --timeout=2 list-dbs "unix:$2" >/dev/null 2>&1 && return 0
        daemon_running "$1" || { tail -n 20 "$LOG_DIR/$1.log" >&2; die "$1 exited (log: $LOG_DIR/$1.log)"; }
        sleep 0.1
    done
    die "$1 does not answer on $2 after 30 s (log: $LOG_DIR/$1.log)"
}

# start_ovsdb_server NAME DB SOCKET: an ovsdb-server serving DB on SOCKET
start_ovsdb_server() {
    start_daemon "$1" "$2" "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovsdb-server "$2" --remote="punix:$3" \
        --unixctl="$(dirname "$3")/$1.ctl" --pidfile="$(dirname "$3")/$1.pid" --no-chdir
}

start_ovn_central() {
    mkdir -p "$OVN_RUN" "$OVN_DATA"
    ovsdb_create "$OVN_DATA/ovnnb_db.db" "/usr/share/ovn/ovn-nb.ovsschema"
    ovsdb_create "$OVN_DATA/ovnsb_db.db" "/usr/share/ovn/ovn-sb.ovsschema"
    start_ovsdb_server ovn-nb-db "$OVN_DATA/ovnnb_db.db" "$OVN_NB_SOCK"
    start_ovsdb_server ovn-sb-db "$OVN_DATA/ovnsb_db.db" "$OVN_SB_SOCK"
    wait_for_ovsdb ovn-nb-db "$OVN_NB_SOCK"
    wait_for_ovsdb ovn-sb-db "$OVN_SB_SOCK"
    start_daemon ovn-northd ovn-northd "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovn-northd \
        --ovnnb-db="unix:$OVN_NB_SOCK" --ovnsb-db="unix:$OVN_SB_SOCK" \
        --unixctl="$OVN_RUN/ovn-northd.ctl" --pidfile="$OVN_RUN/ovn-northd.pid" --no-chdir
}

# The compute host's switch. The chassis settings are in the Open_vSwitch row: ovn-controller
# reads them, and creates br-int itself with the datapath type given.
start_ovs() {
    mkdir -p "$OVS_RUN" "$OVS_DATA"
    ovsdb_create "$OVS_DATA/conf.db" "/usr/share/openvswitch/vswitch.ovsschema"
    start_ovsdb_server ovsdb-server "$OVS_DATA/conf.db" "$OVS_DB_SOCK"
    wait_for_ovsdb ovsdb-server "$OVS_DB_SOCK"
    ovs_vsctl --no-wait init
    ovs_vsctl --no-wait set Open_vSwitch . \
        external_ids:system-id="$COMPUTE_HOST" external_ids:hostname="$COMPUTE_HOST" \
        external_ids:ovn-remote="unix:$OVN_SB_SOCK" external_ids:ovn-encap-type=geneve \
        external_ids:ovn-encap-ip="$SERVICE_HOST" external_ids:ovn-bridge=br-int \
        external_ids:ovn-bridge-datapath-type=netdev
    start_daemon ovs-vswitchd ovs-vswitchd "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovs-vswitchd \
        "unix:$OVS_DB_SOCK" --unixctl="$OVS_RUN/ovs-vswitchd.ctl" --pidfile="$OVS_RUN/ovs-vswitchd.pid" --no-chdir
    start_daemon ovn-controller ovn-controller "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovn-controller \
        "unix:$OVS_DB_SOCK" --unixctl="$OVN_RUN/ovn-controller.ctl" --pidfile="$OVN_RUN/ovn-controller.pid" --no-chdir
}

# wait_ovn_chassis: the compute host's chassis is in the southbound database (binding works)
wait_ovn_chassis() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ -n "$(ovn_sbctl --bare --columns=name find Chassis name="$COMPUTE_HOST" 2>/dev/null)" ] && return 0
        daemon_running ovn-controller || { tail -n 20 "$LOG_DIR/ovn-controller.log" >&2; die "ovn-controller exited (log: $LOG_DIR/ovn-controller.log)"; }
        sleep 0.1
    done
    die "no OVN chassis $COMPUTE_HOST after 30 s (log: $LOG_DIR/ovn-controller.log)"
}

stop_ovn() {
    local name
    for name in ovn-controller ovs-vswitchd ovsdb-server ovn-northd ovn-sb-db ovn-nb-db; do
        stop_daemon "$name" 30
    done
}

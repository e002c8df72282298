# OVN for Neutron's ML2/OVN (NEUTRON_BACKEND=ovn): the central part (NB and SB databases,
# ovn-northd) and, as each compute host's own switch, Open vSwitch (ovsdb-server, ovs-vswitchd
# with the userspace `netdev` datapath: this kernel has no openvswitch module) and
# ovn-controller, whose chassis is the compute host (ML2/OVN binds a port to a host only when a
# chassis of that name is alive). Everything listens on unix sockets under $RUN_DIR;
# nova-container plugs its ports into br-int through its host's $OVS_DB_SOCK (ovs_instance).

OVN_RUN=$RUN_DIR/ovn
OVN_DATA=$DATA_DIR/ovn
OVN_NB_SOCK=$OVN_RUN/ovnnb_db.sock
OVN_SB_SOCK=$OVN_RUN/ovnsb_db.sock
OVN_CENTRAL_SERVICES=(ovn-nb-db:- ovn-sb-db:- ovn-northd:-)

ovn_nbctl() { "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovn-nbctl --db="unix:$OVN_NB_SOCK" --timeout=10 "$@"; }
ovn_sbctl() { "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovn-sbctl --db="unix:$OVN_SB_SOCK" --timeout=10 "$@"; }
ovs_vsctl() { "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovs-vsctl --db="unix:$OVS_DB_SOCK" --timeout=10 "$@"; }

# ovs_instance N: the switch of compute host N (1: the cloud's own; N >= 2: lib/compute_hosts.sh's
# host N, whose daemons run in its network namespace with a database, run directory and chassis
# of their own). Sets the daemons' names, OVS_DB_SOCK and OVN_ENV, where the OVS and OVN tools
# find their sockets and control files (else /var/run/...).
ovs_instance() {
    local n=${1:-1} suffix=
    OVS_RUN=$RUN_DIR/openvswitch
    OVS_DATA=$DATA_DIR/openvswitch
    OVS_NETNS=()
    OVN_CHASSIS=$COMPUTE_HOST
    OVN_ENCAP_IP=$SERVICE_HOST
    OVN_CONTROLLER_RUN=$OVN_RUN
    if [ "$n" != 1 ]; then
        suffix=-$n
        OVS_RUN=$RUN_DIR/host$n/openvswitch
        OVS_DATA=$DATA_DIR/host$n/openvswitch
        OVS_NETNS=(ip netns exec "$(compute_host_netns "$n")")
        OVN_CHASSIS=$(compute_host_name "$n")
        # one address per chassis: the southbound Encap table is indexed by type and ip (the
        # hosts have no tunnel between them either way, as with the Linux bridge: lib/compute_hosts.sh)
        OVN_ENCAP_IP=127.0.0.$n
        OVN_CONTROLLER_RUN=$OVS_RUN
    fi
    OVS_DB_SOCK=$OVS_RUN/db.sock
    OVSDB_DAEMON=ovsdb-server$suffix
    OVS_VSWITCHD_DAEMON=ovs-vswitchd$suffix
    OVN_CONTROLLER_DAEMON=ovn-controller$suffix
    OVN_HOST_SERVICES=("$OVSDB_DAEMON:-" "$OVS_VSWITCHD_DAEMON:-" "$OVN_CONTROLLER_DAEMON:-")   # not with NEUTRON_AGENTS=no
    OVN_ENV=(env OVS_RUNDIR="$OVS_RUN" OVS_DBDIR="$OVS_DATA" OVN_RUNDIR="$OVN_CONTROLLER_RUN" OVS_LOGDIR="$LOG_DIR")
}
ovs_instance 1

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

# start_ovsdb_server NAME DB SOCKET [PREFIX...]: an ovsdb-server serving DB on SOCKET (run
# through PREFIX, a network namespace's `ip netns exec`)
start_ovsdb_server() {
    local name=$1 db=$2 sock=$3
    shift 3
    start_daemon "$name" "$db" "$@" "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovsdb-server "$db" --remote="punix:$sock" \
        --unixctl="$(dirname "$sock")/$name.ctl" --pidfile="$(dirname "$sock")/$name.pid" --no-chdir
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

# The compute host's switch (ovs_instance's). The chassis settings are in the Open_vSwitch row:
# ovn-controller reads them, and creates br-int itself with the datapath type given.
start_ovs() {
    mkdir -p "$OVS_RUN" "$OVS_DATA"
    ovsdb_create "$OVS_DATA/conf.db" "/usr/share/openvswitch/vswitch.ovsschema"
    start_ovsdb_server "$OVSDB_DAEMON" "$OVS_DATA/conf.db" "$OVS_DB_SOCK" "${OVS_NETNS[@]}"
    wait_for_ovsdb "$OVSDB_DAEMON" "$OVS_DB_SOCK"
    ovs_vsctl --no-wait init
    ovs_vsctl --no-wait set Open_vSwitch . \
        external_ids:system-id="$OVN_CHASSIS" external_ids:hostname="$OVN_CHASSIS" \
        external_ids:ovn-remote="unix:$OVN_SB_SOCK" external_ids:ovn-encap-type=geneve \
        external_ids:ovn-encap-ip="$OVN_ENCAP_IP" external_ids:ovn-bridge=br-int \
        external_ids:ovn-bridge-datapath-type=netdev
    start_daemon "$OVS_VSWITCHD_DAEMON" "ovs-vswitchd unix:$OVS_DB_SOCK" "${OVS_NETNS[@]}" "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovs-vswitchd \
        "unix:$OVS_DB_SOCK" --unixctl="$OVS_RUN/ovs-vswitchd.ctl" --pidfile="$OVS_RUN/ovs-vswitchd.pid" --no-chdir
    start_daemon "$OVN_CONTROLLER_DAEMON" "ovn-controller unix:$OVS_DB_SOCK" "${OVS_NETNS[@]}" "${RELEASE_EXEC[@]}" "${OVN_ENV[@]}" ovn-controller \
        "unix:$OVS_DB_SOCK" --unixctl="$OVN_CONTROLLER_RUN/ovn-controller.ctl" --pidfile="$OVN_CONTROLLER_RUN/ovn-controller.pid" --no-chdir
}

# wait_ovn_chassis: the compute host's ovn-controller is connected to the southbound database
# and its chassis is there (binding works). The chassis row alone is no proof: it outlives an
# ovn-controller that was stopped, so a restarted one is awaited through its own status.
wait_ovn_chassis() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ "$("${RELEASE_EXEC[@]}" ovn-appctl -t "$OVN_CONTROLLER_RUN/ovn-controller.ctl" connection-status 2>/dev/null)" = connected ] &&
            [ -n "$(ovn_sbctl --bare --columns=name find Chassis name="$OVN_CHASSIS" 2>/dev/null)" ] && return 0
        daemon_running "$OVN_CONTROLLER_DAEMON" || { tail -n 20 "$LOG_DIR/$OVN_CONTROLLER_DAEMON.log" >&2; die "$OVN_CONTROLLER_DAEMON exited (log: $LOG_DIR/$OVN_CONTROLLER_DAEMON.log)"; }
        sleep 0.1
    done
    die "no OVN chassis $OVN_CHASSIS after 30 s (log: $LOG_DIR/$OVN_CONTROLLER_DAEMON.log)"
}

# stop_ovs: the compute host's switch (ovs_instance's)
stop_ovs() {
    stop_daemons "$OVN_CONTROLLER_DAEMON" "$OVS_VSWITCHD_DAEMON" "$OVSDB_DAEMON"
}

stop_ovn() {
    stop_ovs
    stop_daemons ovn-northd ovn-sb-db ovn-nb-db
}

#!/bin/bash
# check-neutron-dataplane.sh: proves Neutron's data plane of the running local cloud without
# nova-container, by plugging two ports the way a compute host must (devstack/README.md,
# "Plugging a port"). Run as root on the cloud's machine:
#
#   ./devstack/check-neutron-dataplane.sh [-v]
#
# For two ports on `private` (device_owner compute:nova, bound to $COMPUTE_HOST), each in a
# network namespace of its own behind a veth pair whose host end is tap<port id[:11]> in
# brq<network id[:11]>, it checks: binding:vif_type = bridge; both ports become ACTIVE; ping
# between the namespaces and from the DHCP agent's qdhcp-<net id> namespace; dnsmasq leases
# each port its own address; a TCP port listening in one namespace is unreachable from the
# other until a security group rule allows it, reachable with the rule, unreachable again
# once it is removed; members of the default security group reach each other. Then it removes
# everything it made (ports, security group, namespaces, veths). Traffic never leaves the
# namespaces it creates and Neutron's own. Exit 0 only when every check passed.
set -euo pipefail

LOCAL_CLOUD_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)
# the cloud that is up, as local-cloud.sh finds it
# shellcheck source=lib/cloud-dir.sh
. "$LOCAL_CLOUD_LIB/cloud-dir.sh"
set_cloud_dir
# shellcheck source=lib/common.sh
. "$LOCAL_CLOUD_LIB/common.sh"
[ "$OPENSTACK_RELEASE" = zed ] ||
    die "$LOCAL_CLOUD_DIR runs $OPENSTACK_RELEASE with ML2/OVN: this check proves the Linux bridge data plane (zed) only"

VERBOSE=0
[ "${1:-}" = -v ] && VERBOSE=1
NET_NAME=${CHECK_NETWORK:-private}
TCP_PORT=5001
NEUTRON_URL="http://$SERVICE_HOST:$NEUTRON_PORT/v2.0"
BUSYBOX=/bin/busybox
RUN=dpc$$                       # prefix of everything this run creates
T_START=$EPOCHREALTIME
FAILED=0
CHECKS=0

[ "$(id -u)" = 0 ] || die "run me as root (namespaces, veths)"
for cmd in curl jq ip ping "$BUSYBOX"; do
    command -v "$cmd" >/dev/null || die "$cmd is missing (./devstack/local-cloud.sh up installs it)"
done

# ---------------------------------------------------------------- output
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
pass() { CHECKS=$((CHECKS + 1)); printf 'PASS  %-72s %6s s\n' "$1" "$2"; }
fail() { CHECKS=$((CHECKS + 1)); FAILED=$((FAILED + 1)); printf 'FAIL  %-72s %6s s\n' "$1" "$2"; }
info() { printf '      %s\n' "$*"; }
vlog() { [ "$VERBOSE" = 0 ] || printf '      . %s\n' "$*" >&2; }

# ---------------------------------------------------------------- API (curl + a token)
TOKEN=""
PROJECT_ID=""
get_token() {
    local body headers
    headers=$(mktemp)
    body=$(curl -sS -D "$headers" -X POST "$KEYSTONE_URL/auth/tokens" -H 'Content-Type: application/json' \
        -d "$(jq -n --arg p "$ADMIN_PASSWORD" '{auth: {identity: {methods: ["password"], password: {user:
            {name: "admin", domain: {id: "default"}, password: $p}}}, scope: {project: {name: "admin",
            domain: {id: "default"}}}}}')") || { rm -f "$headers"; die "Keystone at $KEYSTONE_URL does not answer"; }
    TOKEN=$(awk -F': ' 'tolower($1) == "x-subject-token" { sub(/\r$/, "", $2); print $2 }' "$headers")
    rm -f "$headers"
    [ -n "$TOKEN" ] || die "no token from Keystone: $body"
    PROJECT_ID=$(jq -r .token.project.id <<<"$body")
}

# api METHOD PATH [BODY]: Neutron API call; prints the JSON answer, fails on HTTP >= 400
api() {
    local method=$1 path=$2 data=${3:-} out code
    out=$(mktemp)
    code=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" "$NEUTRON_URL$path" \
        -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' ${data:+-d "$data"}) || code=000
    if [ "$code" -ge 400 ] || [ "$code" = 000 ]; then
        echo "Neutron $method $path: HTTP $code $(cat "$out")" >&2
        rm -f "$out"
        return 1
    fi
    cat "$out"
    rm -f "$out"
}

# ---------------------------------------------------------------- cleanup
PORTS=()            # port ids made by this run
SGS=()              # security group ids made by this run
NAMESPACES=()
CREATED_BRIDGE=""
cleanup() {
    local rc=$? t0 ns id
    t0=$(now)
    set +e
    for ns in "${NAMESPACES[@]}"; do
        # the processes this run started there (nc listeners, udhcpc)
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null   # takes the namespace end of the veth, so the tap too
    done
    for id in "${PORTS[@]}"; do
        ip link del "tap${id:0:11}" 2>/dev/null
        api DELETE "/ports/$id" >/dev/null
    done
    for id in "${SGS[@]}"; do api DELETE "/security-groups/$id" >/dev/null; done
    if [ -n "$CREATED_BRIDGE" ] && [ -z "$(ls "/sys/class/net/$CREATED_BRIDGE/brif" 2>/dev/null)" ]; then
        ip link del "$CREATED_BRIDGE" 2>/dev/null
    fi
    local left=""
    for id in "${PORTS[@]}"; do
        [ -e "/sys/class/net/tap${id:0:11}" ] && left+=" tap${id:0:11}"
    done
    for ns in "${NAMESPACES[@]}"; do ip netns list | grep -qw "$ns" && left+=" netns:$ns"; done
    if [ ${#PORTS[@]} -gt 0 ] && [ -n "$TOKEN" ]; then
        local still
        still=$(api GET "/ports?name=$RUN-a&fields=id" | jq '.ports | length')$(api GET "/ports?name=$RUN-b&fields=id" | jq '.ports | length')
        [ "$still" = 00 ] || left+=" neutron-ports"
    fi
    if [ -z "$left" ]; then
        pass "cleanup: ports, security group, namespaces and veths removed" "$(elapsed "$t0")"
    else
        fail "cleanup: left behind:$left" "$(elapsed "$t0")"
        rc=1
    fi
    [ "$rc" = 0 ] || [ "$FAILED" != 0 ] || fail "aborted (exit $rc): see the error above" "$(elapsed "$T_START")"
    printf '%d checks, %d failed, %s s in all\n' "$CHECKS" "$FAILED" "$(elapsed "$T_START")"
    [ "$FAILED" = 0 ] && [ "$rc" = 0 ] && exit 0
    exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
# poll SECONDS CMD...: runs CMD every 0.2 s until it succeeds; fails after SECONDS
poll() {
    local limit=$1 t0
    shift
    t0=$(now)
    until "$@"; do
        awk -v a="$t0" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }' && return 1
        sleep 0.2
    done
}

ns_ping() { ip netns exec "$1" ping -c 1 -W 1 -q "$2" >/dev/null 2>&1; }

# tcp_answer NS IP: connects to IP:TCP_PORT from NS; succeeds when the listener's greeting came back
tcp_answer() { [ "$(ip netns exec "$1" timeout 3 "$BUSYBOX" nc -w 1 "$2" "$TCP_PORT" </dev/null 2>/dev/null)" = "hello-$RUN" ]; }
tcp_blocked() { ! tcp_answer "$@"; }

port_status() { api GET "/ports/$1?fields=status" | jq -r .port.status; }
port_active() { [ "$(port_status "$1")" = ACTIVE ]; }

# plug PORT_JSON NS: what a compute host does for a linuxbridge (vif_type bridge) port
plug() {
    local port=$1 ns=$2 id mac ip tap peer
    id=$(jq -r .id <<<"$port")
    mac=$(jq -r .mac_address <<<"$port")
    ip=$(jq -r '.fixed_ips[0].ip_address' <<<"$port")
    tap=tap${id:0:11}
    peer=${RUN}${ns: -1}
    ip netns add "$ns"
    NAMESPACES+=("$ns")
    # 1. the veth pair: host end tap<port id[:11]>, both ends at the network's MTU
    ip link add "$tap" mtu "$MTU" type veth peer name "$peer" mtu "$MTU"
    # 2. the other end into the namespace as eth0 with the port's MAC, IP and default route
    ip link set "$peer" netns "$ns"
    ip -n "$ns" link set "$peer" name eth0
    ip -n "$ns" link set eth0 address "$mac"
    ip -n "$ns" addr add "$ip/$PREFIX" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$GATEWAY" dev eth0
    # 3. the bridge brq<network id[:11]> (the agent makes it when it wires the network; a
    #    compute host creates it when it plugs first)
    if [ ! -d "/sys/class/net/$BRIDGE" ]; then
        ip link add "$BRIDGE" type bridge
        ip link set "$BRIDGE" up
        CREATED_BRIDGE=$BRIDGE
        vlog "created $BRIDGE"
    fi
    # 4. the tap into the bridge, then up: the agent sees tap*, applies the security group and
    #    reports the device up; Neutron sets the port ACTIVE (network-vif-plugged for Nova)
    ip link set "$tap" master "$BRIDGE"
    ip link set "$tap" up
    vlog "plugged $tap ($mac $ip/$PREFIX) into $BRIDGE, peer eth0 in $ns"
}

# ---------------------------------------------------------------- the checks
t0=$(now)
get_token
NET=$(api GET "/networks?name=$NET_NAME" | jq -c '.networks[0] // empty')
[ -n "$NET" ] || die "no network $NET_NAME (run ./devstack/local-cloud.sh up)"
NET_ID=$(jq -r .id <<<"$NET")
MTU=$(jq -r .mtu <<<"$NET")
SUBNET=$(api GET "/subnets?network_id=$NET_ID&ip_version=4" | jq -c '.subnets[0]')
CIDR=$(jq -r .cidr <<<"$SUBNET")
PREFIX=${CIDR#*/}
GATEWAY=$(jq -r .gateway_ip <<<"$SUBNET")
BRIDGE=brq${NET_ID:0:11}
DHCP_NS=qdhcp-$NET_ID
HOST_ID=$COMPUTE_HOST
info "network $NET_NAME $NET_ID ($(jq -r '."provider:network_type"' <<<"$NET"), MTU $MTU), subnet $CIDR gateway $GATEWAY, bridge $BRIDGE, host $HOST_ID"
# the DHCP agent makes its port and namespace shortly after the network was created
dhcp_ready() {
    DHCP_IP=$(api GET "/ports?network_id=$NET_ID&device_owner=network:dhcp" | jq -r '.ports[] | select(.status == "ACTIVE") | .fixed_ips[0].ip_address' | head -1)
    [ -n "$DHCP_IP" ] && ip netns list | grep -qw "$DHCP_NS"
}
poll 60 dhcp_ready || die "network $NET_NAME has no ACTIVE DHCP port or no namespace $DHCP_NS after 60 s (is neutron-dhcp-agent running? ./devstack/local-cloud.sh status)"
pass "token, network $NET_NAME, subnet, DHCP port $DHCP_IP in $DHCP_NS" "$(elapsed "$t0")"

# a security group of this run: ICMP in (ping), egress open, no TCP in
t0=$(now)
SG_ID=$(api POST /security-groups "$(jq -n --arg n "$RUN-sg" '{security_group: {name: $n,
    description: "check-neutron-dataplane.sh (temporary)"}}')" | jq -r .security_group.id)
SGS+=("$SG_ID")
api POST /security-group-rules "$(jq -n --arg sg "$SG_ID" '{security_group_rule: {security_group_id: $sg,
    direction: "ingress", ethertype: "IPv4", protocol: "icmp"}}')" >/dev/null
pass "security group $RUN-sg: ingress ICMP only" "$(elapsed "$t0")"

declare -A PORT_JSON PORT_IP PORT_NS
for x in a b; do
    t0=$(now)
    DEVICE_ID=$(cat /proc/sys/kernel/random/uuid)
    P=$(api POST /ports "$(jq -n --arg net "$NET_ID" --arg n "$RUN-$x" --arg dev "$DEVICE_ID" \
        --arg host "$HOST_ID" --arg sg "$SG_ID" '{port: {network_id: $net, name: $n, device_id: $dev,
        device_owner: "compute:nova", "binding:host_id": $host, security_groups: [$sg]}}')" | jq -c .port)
    PORT_JSON[$x]=$P
    PID_=$(jq -r .id <<<"$P")
    PORTS+=("$PID_")
    PORT_IP[$x]=$(jq -r '.fixed_ips[0].ip_address' <<<"$P")
    PORT_NS[$x]=$RUN-ns-$x
    VIF=$(jq -r '."binding:vif_type"' <<<"$P")
    if [ "$VIF" = bridge ]; then
        pass "port $x $PID_ ${PORT_IP[$x]} bound to $HOST_ID: vif_type bridge" "$(elapsed "$t0")"
    else
        fail "port $x $PID_ bound to $HOST_ID: vif_type $VIF (want bridge)" "$(elapsed "$t0")"
        exit 1
    fi
    vlog "vif_details $(jq -c '."binding:vif_details"' <<<"$P"), status $(jq -r .status <<<"$P")"
done
ID_A=${PORTS[0]}
ID_B=${PORTS[1]}

t0=$(now)
plug "${PORT_JSON[a]}" "${PORT_NS[a]}"
plug "${PORT_JSON[b]}" "${PORT_NS[b]}"
T_PLUGGED=$(now)
pass "plugged tap${ID_A:0:11} and tap${ID_B:0:11} into $BRIDGE (namespaces ${PORT_NS[a]}, ${PORT_NS[b]})" "$(elapsed "$t0")"

for x in a b; do
    id=$(jq -r .id <<<"${PORT_JSON[$x]}")
    if poll 60 port_active "$id"; then
        pass "port $x ACTIVE (since plugged)" "$(elapsed "$T_PLUGGED")"
    else
        fail "port $x not ACTIVE after 60 s: $(port_status "$id")" "$(elapsed "$T_PLUGGED")"
        exit 1
    fi
done
info "tap MTU $(cat "/sys/class/net/tap${ID_A:0:11}/mtu"), bridge ports: $(ls "/sys/class/net/$BRIDGE/brif" | tr '\n' ' ')"

# ping both ways, then from the DHCP namespace (first attempts may precede the firewall rules)
# ping_check LABEL NS IP: passes when namespace NS reaches IP within 15 s
ping_check() {
    local t0
    t0=$(now)
    if poll 15 ns_ping "$2" "$3"; then pass "$1" "$(elapsed "$t0")"; else fail "$1" "$(elapsed "$t0")"; fi
}
for pair in "a b" "b a"; do
    set -- $pair
    ping_check "ping $1 -> $2 (${PORT_IP[$1]} -> ${PORT_IP[$2]})" "${PORT_NS[$1]}" "${PORT_IP[$2]}"
done
for x in a b; do
    ping_check "ping $DHCP_NS ($DHCP_IP) -> $x (${PORT_IP[$x]})" "$DHCP_NS" "${PORT_IP[$x]}"
done

# DHCP: dnsmasq leases port a its own address (udhcpc only prints the offer, changes nothing)
t0=$(now)
LEASE=$(ip netns exec "${PORT_NS[a]}" timeout 10 "$BUSYBOX" udhcpc -i eth0 -n -q -f -t 3 -T 1 \
    -s /bin/true 2>&1 | sed -n 's/.*[Ll]ease of \([0-9.]*\) obtained.*/\1/p' | head -1) || true
if [ "$LEASE" = "${PORT_IP[a]}" ]; then
    pass "DHCP: dnsmasq leases port a ${PORT_IP[a]}" "$(elapsed "$t0")"
else
    fail "DHCP: dnsmasq lease for port a: '${LEASE}' (want ${PORT_IP[a]})" "$(elapsed "$t0")"
fi

# security groups: a TCP listener in b, reached from a only while a rule allows it
ip netns exec "${PORT_NS[b]}" "$BUSYBOX" nc -ll -p "$TCP_PORT" -e /bin/echo "hello-$RUN" </dev/null >/dev/null 2>&1 &
sleep 0.2
t0=$(now)
if ip netns exec "${PORT_NS[b]}" timeout 3 "$BUSYBOX" nc -w 1 127.0.0.1 "$TCP_PORT" </dev/null 2>/dev/null | grep -q "hello-$RUN"; then
    pass "nc listens on tcp/$TCP_PORT in b (checked from b itself)" "$(elapsed "$t0")"
else
    fail "nc does not answer on tcp/$TCP_PORT in b" "$(elapsed "$t0")"
fi
t0=$(now)
if tcp_blocked "${PORT_NS[a]}" "${PORT_IP[b]}"; then
    pass "TCP a -> b:$TCP_PORT blocked by the security group (no rule)" "$(elapsed "$t0")"
else
    fail "TCP a -> b:$TCP_PORT passed without a rule" "$(elapsed "$t0")"
fi
t0=$(now)
RULE_ID=$(api POST /security-group-rules "$(jq -n --arg sg "$SG_ID" --argjson p "$TCP_PORT" '{security_group_rule:
    {security_group_id: $sg, direction: "ingress", ethertype: "IPv4", protocol: "tcp",
    port_range_min: $p, port_range_max: $p}}')" | jq -r .security_group_rule.id)
if poll 20 tcp_answer "${PORT_NS[a]}" "${PORT_IP[b]}"; then
    pass "TCP a -> b:$TCP_PORT passes once rule ingress tcp/$TCP_PORT is added" "$(elapsed "$t0")"
else
    fail "TCP a -> b:$TCP_PORT still blocked 20 s after adding the rule" "$(elapsed "$t0")"
fi
t0=$(now)
api DELETE "/security-group-rules/$RULE_ID" >/dev/null
if poll 20 tcp_blocked "${PORT_NS[a]}" "${PORT_IP[b]}"; then
    pass "TCP a -> b:$TCP_PORT blocked again once the rule is removed" "$(elapsed "$t0")"
else
    fail "TCP a -> b:$TCP_PORT still passes 20 s after removing the rule" "$(elapsed "$t0")"
fi

# the project's default security group: its members reach each other on any port
t0=$(now)
DEFAULT_SG=$(api GET "/security-groups?name=default&project_id=$PROJECT_ID&fields=id" | jq -r '.security_groups[0].id // empty')
if [ -n "$DEFAULT_SG" ]; then
    for id in "$ID_A" "$ID_B"; do
        api PUT "/ports/$id" "$(jq -n --arg sg "$DEFAULT_SG" '{port: {security_groups: [$sg]}}')" >/dev/null
    done
    if poll 20 tcp_answer "${PORT_NS[a]}" "${PORT_IP[b]}"; then
        pass "default security group: TCP a -> b:$TCP_PORT passes between its members" "$(elapsed "$t0")"
    else
        fail "default security group: TCP a -> b:$TCP_PORT blocked between its members" "$(elapsed "$t0")"
    fi
else
    info "no default security group in project $PROJECT_ID: skipped"
fi

# unplug: removing the tap sets the port DOWN (network-vif-unplugged for Nova)
t0=$(now)
ip link del "tap${ID_A:0:11}"
if poll 20 eval '[ "$(port_status "$ID_A")" = DOWN ]'; then
    pass "port a DOWN after its tap was deleted" "$(elapsed "$t0")"
else
    fail "port a is $(port_status "$ID_A") 20 s after its tap was deleted (want DOWN)" "$(elapsed "$t0")"
fi

#!/bin/bash
# devstack plugin of nova-container: this host's compute runs Nova instances as containers.
#
#   [[local|localrc]]
#   enable_plugin nova-container <git url of this repository> [ref]
#
# stack.sh sources this file as `plugin.sh stack pre-install|install|post-config|extra`,
# unstack.sh as `plugin.sh unstack`, clean.sh as `plugin.sh clean`. Settings: devstack/settings;
# what each phase does: devstack/README.md ("The devstack plugin"). The build, the config
# writer and the dockerd config are functions of devstack/lib/{nova_container,docker}.sh, shared
# with devstack/local-cloud.sh.

_NOVA_CONTAINER_XTRACE=$(set +o | grep xtrace)
set +o xtrace

NOVA_CONTAINER_PLUGIN_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)
# shellcheck source=lib/docker.sh
source "$NOVA_CONTAINER_PLUGIN_LIB/docker.sh"
# shellcheck source=lib/nova_container.sh
source "$NOVA_CONTAINER_PLUGIN_LIB/nova_container.sh"
# stack.sh runs as the stack user; the engine's socket is root's (root:docker 0660)
DOCKER_API_SUDO=sudo

# _nova_container_node_major NODE: the major version of NODE, or nothing when it does not run
_nova_container_node_major() {
    local v
    v=$("$1" --version 2>/dev/null) || return 0
    v=${v#v}
    echo "${v%%.*}"
}

# nova_container_install_node: Node.js 20 when $NOVA_CONTAINER_NODE is missing or older (see
# NOVA_CONTAINER_NODE in devstack/settings); afterwards NOVA_CONTAINER_NODE is its path.
nova_container_install_node() {
    local major arch tmp file top dir b
    major=$(_nova_container_node_major "$NOVA_CONTAINER_NODE")
    if [[ ${major:-0} -ge 20 ]]; then
        echo "Node.js $("$NOVA_CONTAINER_NODE" --version) found ($(command -v "$NOVA_CONTAINER_NODE"))"
        return 0
    fi
    case $(uname -m) in
        x86_64) arch=x64 ;;
        aarch64) arch=arm64 ;;
        ppc64le | s390x) arch=$(uname -m) ;;
        *) die $LINENO "no Node.js 20 binaries for $(uname -m): install Node.js 20 and set NOVA_CONTAINER_NODE" ;;
    esac
    echo_summary "Installing Node.js 20 from $NOVA_CONTAINER_NODE_DIST_URL"
    tmp=$(mktemp -d)
    curl -fsSL --retry 3 -o "$tmp/SHASUMS256.txt" "$NOVA_CONTAINER_NODE_DIST_URL/SHASUMS256.txt" ||
        die $LINENO "cannot download $NOVA_CONTAINER_NODE_DIST_URL/SHASUMS256.txt"
    file=$(awk -v want="linux-$arch.tar.xz" '$2 ~ /^node-v20\.[0-9]+\.[0-9]+-/ && substr($2, length($2) - length(want) + 1) == want { print $2; exit }' "$tmp/SHASUMS256.txt")
    [[ -n $file ]] || die $LINENO "no node-v20.*-linux-$arch.tar.xz in $NOVA_CONTAINER_NODE_DIST_URL/SHASUMS256.txt"
    curl -fsSL --retry 3 -o "$tmp/$file" "$NOVA_CONTAINER_NODE_DIST_URL/$file" ||
        die $LINENO "cannot download $NOVA_CONTAINER_NODE_DIST_URL/$file"
    (cd "$tmp" && grep -E "^[0-9a-f]{64}  $file\$" SHASUMS256.txt | sha256sum -c --status) ||
        die $LINENO "$file does not match its SHA-256 in SHASUMS256.txt"
    dir=$NOVA_CONTAINER_NODE_PREFIX/lib/nodejs
    top=$dir/${file%.tar.xz}
    sudo mkdir -p "$dir" "$NOVA_CONTAINER_NODE_PREFIX/bin"
    sudo tar -xJf "$tmp/$file" -C "$dir"
    rm -rf "$tmp"
    for b in node npm npx; do
        [[ ! -e $top/bin/$b ]] || sudo ln -sfn "$top/bin/$b" "$NOVA_CONTAINER_NODE_PREFIX/bin/$b"
    done
    NOVA_CONTAINER_NODE=$NOVA_CONTAINER_NODE_PREFIX/bin/node
    major=$(_nova_container_node_major "$NOVA_CONTAINER_NODE")
    [[ ${major:-0} -ge 20 ]] || die $LINENO "$NOVA_CONTAINER_NODE does not run as Node.js 20 after the install"
    echo "Node.js $("$NOVA_CONTAINER_NODE" --version) installed in $top"
}

# nova_container_install_engine: docker.io when there is no dockerd (NOVA_CONTAINER_CONFIGURE_DOCKER),
# the tools the VIF plugging runs (ip, nsenter) and catatonit, the pause binary of the
# instances' network sandboxes ([container] sandbox_init)
nova_container_install_engine() {
    if [[ $NOVA_CONTAINER_CONFIGURE_DOCKER == True ]] && ! command -v dockerd >/dev/null; then
        install_package docker.io
    fi
    command -v ip >/dev/null || install_package iproute2
    command -v nsenter >/dev/null || install_package util-linux
    [[ -x /usr/bin/catatonit ]] || install_package catatonit
}

# nova_container_install: npm ci (when node_modules is missing) and tsc, in the checkout, as the
# stack user
nova_container_install() {
    nova_container_build "$NOVA_CONTAINER_DIR" "$NOVA_CONTAINER_NODE" ||
        die $LINENO "building nova-container failed: $NOVA_CONTAINER_ERROR"
}

# nova_container_configure_engine: dockerd keeps containers running while it restarts
# ("live-restore" added to its daemon.json, other keys kept); docker.service enabled, and
# restarted only when that file changed
nova_container_configure_engine() {
    [[ $NOVA_CONTAINER_CONFIGURE_DOCKER == True ]] || return 0
    local new
    new=$(docker_daemon_json "$NOVA_CONTAINER_DOCKERD_CONFIG" live-restore=true) ||
        die $LINENO "cannot read $NOVA_CONTAINER_DOCKERD_CONFIG"
    if [[ -f $NOVA_CONTAINER_DOCKERD_CONFIG ]] && [[ "$(cat "$NOVA_CONTAINER_DOCKERD_CONFIG")" == "$new" ]]; then
        $SYSTEMCTL enable docker.service
        $SYSTEMCTL start docker.service
        return 0
    fi
    sudo mkdir -p "$(dirname "$NOVA_CONTAINER_DOCKERD_CONFIG")"
    printf '%s\n' "$new" | sudo tee "$NOVA_CONTAINER_DOCKERD_CONFIG" >/dev/null
    $SYSTEMCTL enable docker.service
    $SYSTEMCTL restart docker.service
}

# _nova_container_auth ARRAY SECTION FROM...: SECTION's keystoneauth block from the first of
# nova.conf's sections FROM... that has a username; keys it lacks take devstack's own values
# (user nova in project $SERVICE_PROJECT_NAME, as devstack configures nova's [placement] and
# [neutron]). nova.conf's `interface` (what devstack writes) becomes valid_interfaces.
_nova_container_auth() {
    local array=$1 section=$2 nova_conf=$NOVA_CONF from="" f k
    shift 2
    for f in "$@"; do
        if [[ -n $(iniget "$nova_conf" "$f" username) ]]; then from=$f; break; fi
    done
    local -A got=()
    if [[ -n $from ]]; then
        for k in auth_url username password project_name user_domain_name project_domain_name \
            region_name valid_interfaces interface; do
            got[$k]=$(iniget "$nova_conf" "$from" $k)
        done
    fi
    nova_container_conf_auth "$array" "$section" "${got[auth_url]:-$KEYSTONE_SERVICE_URI}" \
        "${got[username]:-nova}" "${got[password]:-$SERVICE_PASSWORD}" \
        "${got[project_name]:-$SERVICE_PROJECT_NAME}" "${got[user_domain_name]:-$SERVICE_DOMAIN_NAME}" \
        "${got[project_domain_name]:-$SERVICE_DOMAIN_NAME}" "${got[region_name]:-$REGION_NAME}" \
        "${got[valid_interfaces]:-${got[interface]:-public}}"
}

# nova_container_configure: $NOVA_CONTAINER_CONF from devstack's nova.conf (the compute's cell
# broker, host, my_ip, service credentials) and devstack's settings; no database URL
nova_container_configure() {
    local nova_conf=$NOVA_CONF cell_conf=$NOVA_CONF track=true v k
    [[ -f $nova_conf ]] || die $LINENO "no $nova_conf: nova must be configured before nova-container"
    if [[ ${CELLSV2_SETUP:-singleconductor} == superconductor ]]; then
        # what devstack gives nova-compute: its cell's broker, and no scheduler RPC
        cell_conf=${NOVA_CONF_DIR:-$(dirname "$NOVA_CONF")}/nova_cell${NOVA_CPU_CELL:-1}.conf
        track=false
    fi
    [[ -f $cell_conf ]] || die $LINENO "no $cell_conf (CELLSV2_SETUP=$CELLSV2_SETUP)"
    local transport_url host my_ip
    transport_url=$(iniget "$cell_conf" DEFAULT transport_url)
    [[ -n $transport_url ]] || die $LINENO "no [DEFAULT] transport_url in $cell_conf"
    host=${NOVA_CONTAINER_HOST:-$(iniget "$nova_conf" DEFAULT host)}
    my_ip=$(iniget "$nova_conf" DEFAULT my_ip)
    local -A conf=(
        [header]="# nova-container, this host's compute (written by nova-container's devstack plugin from $nova_conf).
# No database URL here: a compute host talks to the database through nova-conductor only."
        [DEFAULT.transport_url]=$transport_url
        [DEFAULT.host]=${host:-$(hostname)}
        [DEFAULT.my_ip]=${my_ip:-${HOST_IP:-127.0.0.1}}
        [DEFAULT.state_path]=$NOVA_CONTAINER_STATE_PATH
        [filter_scheduler.track_instance_changes]=$track
        [container.engine_socket]=unix://$NOVA_CONTAINER_DOCKER_SOCKET
        [container.health_listen]=$NOVA_CONTAINER_HEALTH_LISTEN
        [container.enforce_root_disk]=$NOVA_CONTAINER_ENFORCE_ROOT_DISK
    )
    for k in control_exchange report_interval; do
        v=$(iniget "$nova_conf" DEFAULT $k)
        [[ -z $v ]] || conf[DEFAULT.$k]=$v
    done
    [[ ${ENABLE_DEBUG_LOG_LEVEL:-False} != True ]] || conf[DEFAULT.debug]=true
    # The serial console where devstack runs nova-serialproxy (n-sproxy): devstack writes the
    # compute's [serial_console] into nova-cpu.conf when it starts n-cpu, which does not run
    # here; the proxy's address is in the cell's conf. What nova.conf sets itself wins.
    if is_service_enabled n-sproxy; then
        conf[serial_console.enabled]=true
        conf[serial_console.base_url]="ws://${SERVICE_HOST:-127.0.0.1}:$(iniget "$cell_conf" serial_console serialproxy_port | grep . || echo 6083)/"
        conf[serial_console.proxyclient_address]=${my_ip:-${HOST_IP:-127.0.0.1}}
    fi
    for k in enabled port_range base_url proxyclient_address; do
        v=$(iniget "$nova_conf" serial_console $k)
        [[ -z $v ]] || conf[serial_console.$k]=$v
    done
    _nova_container_auth conf placement placement
    _nova_container_auth conf glance glance service_user keystone_authtoken
    _nova_container_auth conf neutron neutron
    mkdir -p "$(dirname "$NOVA_CONTAINER_CONF")"
    (umask 077 && nova_container_conf conf >"$NOVA_CONTAINER_CONF")

    # what nova-compute would take from nova.conf and devstack's settings
    [[ -z ${VIF_PLUGGING_IS_FATAL:-} ]] || iniset "$NOVA_CONTAINER_CONF" DEFAULT vif_plugging_is_fatal "$VIF_PLUGGING_IS_FATAL"
    [[ -z ${VIF_PLUGGING_TIMEOUT:-} ]] || iniset "$NOVA_CONTAINER_CONF" DEFAULT vif_plugging_timeout "$VIF_PLUGGING_TIMEOUT"
    # the whole [oslo_messaging_rabbit] of the cell: queue flags and types must equal the other
    # services' or RabbitMQ refuses the declaration, and TLS and heartbeats are the cloud's too
    local k v
    while IFS='=' read -r k v; do
        iniset "$NOVA_CONTAINER_CONF" oslo_messaging_rabbit "$k" "$v"
    done < <(awk -F ' *= *' '/^\[/ { s = ($0 == "[oslo_messaging_rabbit]"); next }
        s && /^[^#;[:space:]][^=]*=/ { v = $0; sub(/^[^=]*= */, "", v); print $1 "=" v }' "$cell_conf")
    mkdir -p "$NOVA_CONTAINER_STATE_PATH"

    case ${Q_AGENT:-ovn} in
        linuxbridge | ovn | openvswitch) ;;
        *) ! is_service_enabled neutron q-svc ||
            warn $LINENO "nova-container plugs ports of vif_type bridge (ML2 linuxbridge) and ovs (ML2/OVN, ML2/OVS); Q_AGENT is '${Q_AGENT:-}'" ;;
    esac
}

# nova_container_start: the engine answers, then n-ctr runs as root (devstack@n-ctr.service,
# logs in the journal: journalctl -u devstack@n-ctr)
nova_container_start() {
    local node
    docker_wait "$NOVA_CONTAINER_DOCKER_SOCKET" 60 ||
        die $LINENO "the container engine does not answer on $NOVA_CONTAINER_DOCKER_SOCKET"
    node=$(command -v "$NOVA_CONTAINER_NODE") || die $LINENO "no $NOVA_CONTAINER_NODE (Node.js 20)"
    # MALLOC_ARENA_MAX=2 and the node flags: as in devstack/lib/nova_container.sh
    run_process n-ctr "/usr/bin/env MALLOC_ARENA_MAX=2 $node --max-semi-space-size=2 --optimize-for-size $NOVA_CONTAINER_DIR/dist/src/cli.js --config-file $NOVA_CONTAINER_CONF" "" root
}

# nova_container_discover_host: waits until the host registered its compute node, then maps it
# into its cell (nova-manage cell_v2 discover_hosts; stack.sh itself does that only with n-cpu)
nova_container_discover_host() {
    local host deadline nova_manage=${NOVA_BIN_DIR:-/usr/local/bin}/nova-manage
    host=$(iniget "$NOVA_CONTAINER_CONF" DEFAULT host)
    deadline=$((SECONDS + NOVA_CONTAINER_REGISTER_TIMEOUT))
    while :; do
        "$nova_manage" --config-file "$NOVA_CONF" cell_v2 discover_hosts --verbose ||
            die $LINENO "nova-manage cell_v2 discover_hosts failed"
        # list_hosts: a table whose third column is the host name (centred)
        if "$nova_manage" --config-file "$NOVA_CONF" cell_v2 list_hosts 2>/dev/null |
            awk -F'|' -v host="$host" '{ gsub(/^ +| +$/, "", $4) } $4 == host { found = 1 } END { exit !found }'; then
            echo "compute host $host is mapped to a cell"
            return 0
        fi
        ((SECONDS < deadline)) ||
            die $LINENO "compute host $host did not register within ${NOVA_CONTAINER_REGISTER_TIMEOUT}s (journalctl -u devstack@n-ctr)"
        sleep 2
    done
}

# nova_container_stop: the service only; dockerd keeps the instances' containers running
nova_container_stop() {
    stop_process n-ctr
}

# nova_container_cleanup: the containers this host made (label org.openstack.nova.host), its
# config and state; images stay in the engine's cache
nova_container_cleanup() {
    local host="" ids id
    [[ ! -f $NOVA_CONTAINER_CONF ]] || host=$(iniget "$NOVA_CONTAINER_CONF" DEFAULT host)
    if [[ -n $host ]] && docker_ping "$NOVA_CONTAINER_DOCKER_SOCKET"; then
        ids=$(sudo curl -s --unix-socket "$NOVA_CONTAINER_DOCKER_SOCKET" -G http://localhost/containers/json \
            --data-urlencode all=1 --data-urlencode "filters={\"label\":[\"org.openstack.nova.host=$host\"]}" |
            python3 -c 'import json, sys; print("\n".join(c["Id"] for c in json.load(sys.stdin)))') || ids=""
        for id in $ids; do
            echo "removing container $id of compute host $host"
            sudo curl -s -o /dev/null --unix-socket "$NOVA_CONTAINER_DOCKER_SOCKET" -X DELETE "http://localhost/containers/$id?force=1"
        done
    fi
    rm -f "$NOVA_CONTAINER_CONF"
    sudo rm -rf "$NOVA_CONTAINER_STATE_PATH"
}

if is_service_enabled n-ctr; then
    if [[ "$1" == "stack" && "$2" == "pre-install" ]]; then
        echo_summary "nova-container: Node.js 20 and the container engine"
        nova_container_install_node
        nova_container_install_engine
    elif [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing nova-container (npm ci, tsc)"
        nova_container_install
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring nova-container and the container engine"
        nova_container_configure_engine
        nova_container_configure
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Starting nova-container"
        nova_container_start
        nova_container_discover_host
    fi

    if [[ "$1" == "unstack" ]]; then
        nova_container_stop
    fi

    if [[ "$1" == "clean" ]]; then
        nova_container_cleanup
    fi
fi

$_NOVA_CONTAINER_XTRACE

# Debian packages of the local cloud: installed once, quickly skipped when present.
# RELEASE_PACKAGES make the control plane (in the release's root: the host for zed, the chroot
# for 2025.1); HOST_PACKAGES serve nova-container, its engine and the clients on the host.

RELEASE_PACKAGES=(
    rabbitmq-server sqlite3 mariadb-server python3-pymysql
    keystone glance-api placement-api
    nova-api nova-conductor nova-scheduler python3-nova python3-oslo.messaging
    nova-consoleproxy
    neutron-server
    uwsgi-core uwsgi-plugin-python3
    curl ca-certificates procps iproute2
)
HOST_PACKAGES=(
    sqlite3 jq iputils-ping
    python3-openstackclient python3-osc-placement python3-openstacksdk
    docker.io catatonit btrfs-progs
    curl ca-certificates procps iproute2
    busybox-static
    # the control plane's ports inside the namespaces of compute hosts beyond the first (lib/netns-forward)
    socat
    # ovs-vsctl and ethtool for nova-container's OVS plug; OVN for the plug's tests, which run
    # a switch and OVN of their own whatever the release (test/integration/network/ovs-switch.ts)
    openvswitch-switch ethtool ovn-central ovn-host
    # the messaging tests' brokers of their own, whatever the release (test/helpers/private-rabbitmq.ts)
    rabbitmq-server
)
case $NEUTRON_BACKEND in
    linuxbridge)
        RELEASE_PACKAGES+=(neutron-linuxbridge-agent neutron-dhcp-agent
            dnsmasq-base iptables ipset ebtables conntrack bridge-utils sudo) ;;
    # the compute host's switch and OVN controller run in the release's root (nova-container
    # plugs ports into it with the host's ovs-vsctl)
    ovn) RELEASE_PACKAGES+=(ovn-central ovn-host openvswitch-switch) ;;
esac

# missing_packages [CMD_PREFIX...] -- PACKAGE...: those not installed where CMD_PREFIX runs
missing_packages() {
    local prefix=() p status
    while [ "$1" != -- ]; do prefix+=("$1"); shift; done
    shift
    for p in "$@"; do
        status=$("${prefix[@]}" dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
        [ "${status:0:2}" = ii ] || echo "$p"
    done
}

# Package scripts must start no daemon (they would bind 0.0.0.0 and use /etc configs).
install_policy_rc_d() {
    printf '#!/bin/sh\nexit 101\n' | write_file "$1/usr/sbin/policy-rc.d" 755 || true
}

# Every question that would make a package configure a database, Keystone, RabbitMQ or an
# endpoint is answered "false": the local cloud does all of that itself.
preseed_debconf() {
    local prefix q sel=""
    for prefix in keystone glance placement nova novaapi neutron heat; do
        for q in configure_db dbconfig-install create-admin-tenant register-endpoint \
            configure_ksat configure_rabbit configure_api-endpoint configure_neutron \
            configure_placement configure_nova; do
            sel+="$prefix $prefix/$q boolean false"$'\n'
        done
    done
    # openstack-dashboard asks which host names may reach it (its own /etc copy; ours is in $ETC_DIR)
    sel+="openstack-dashboard horizon/allowed-hosts string 127.0.0.1,localhost"$'\n'
    printf '%s' "$sel"
}

# apt_install [CMD_PREFIX...] -- PACKAGE...: installs them where CMD_PREFIX runs
apt_install() {
    local prefix=()
    while [ "$1" != -- ]; do prefix+=("$1"); shift; done
    shift
    preseed_debconf | "${prefix[@]}" debconf-set-selections
    "${prefix[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${prefix[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

install_packages() {
    local host release t0=$SECONDS
    [ -z "$RELEASE_ROOT" ] || install_policy_rc_d "$RELEASE_ROOT"
    install_policy_rc_d ""
    if [ -z "$RELEASE_ROOT" ]; then
        host=$(missing_packages -- "${HOST_PACKAGES[@]}" "${RELEASE_PACKAGES[@]}" | sort -u)
        release=
    else
        host=$(missing_packages -- "${HOST_PACKAGES[@]}" | sort -u)
        release=$(missing_packages "${RELEASE_EXEC[@]}" -- "${RELEASE_PACKAGES[@]}" | sort -u)
    fi
    if [ -n "$host" ]; then
        log "installing Debian packages: $(tr '\n' ' ' <<<"$host")"
        # shellcheck disable=SC2086
        apt_install -- $host
    fi
    if [ -n "$release" ]; then
        log "installing $OPENSTACK_RELEASE's packages in $RELEASE_ROOT: $(tr '\n' ' ' <<<"$release")"
        # shellcheck disable=SC2086
        apt_install "${RELEASE_EXEC[@]}" -- $release
    fi
    [ -z "$host$release" ] || log "packages installed in $((SECONDS - t0)) s"
}

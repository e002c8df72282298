# Debian packages of the local cloud: installed once, quickly skipped when present.

LOCAL_CLOUD_PACKAGES=(
    rabbitmq-server sqlite3 mariadb-server python3-pymysql
    keystone glance-api placement-api
    nova-api nova-conductor nova-scheduler python3-nova python3-oslo.messaging
    neutron-server neutron-linuxbridge-agent neutron-dhcp-agent
    dnsmasq-base iptables ipset ebtables conntrack bridge-utils sudo iputils-ping jq
    python3-openstackclient python3-osc-placement python3-openstacksdk
    uwsgi-core uwsgi-plugin-python3
    docker.io catatonit
    curl ca-certificates procps iproute2
    busybox-static
)

missing_packages() {
    local p status
    for p in "${LOCAL_CLOUD_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
        [ "${status:0:2}" = ii ] || echo "$p"
    done
}

# Package scripts must start no daemon (they would bind 0.0.0.0 and use /etc configs).
install_policy_rc_d() {
    if ! [ -x /usr/sbin/policy-rc.d ] || ! grep -q 'exit 101' /usr/sbin/policy-rc.d; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
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
    printf '%s' "$sel" | debconf-set-selections
}

install_packages() {
    local missing
    missing=$(missing_packages)
    if [ -z "$missing" ]; then
        return 0
    fi
    log "installing Debian packages: $(tr '\n' ' ' <<<"$missing")"
    install_policy_rc_d
    preseed_debconf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
}

#!/usr/bin/python3
"""Keystone accounts, catalog and Nova flavors of the local cloud, idempotently.

Run by devstack/lib/*.sh with the admin credentials in OS_* and the local cloud's settings in
LC_*:  accounts.py accounts | flavors | networks
One Python process instead of dozens of `openstack` calls (each costs ~2 s).
"""
import os
import sys

import openstack

SERVICE_USERS = ("nova", "placement", "glance", "neutron")
# name, type, port, path
SERVICES = (
    ("glance", "image", "GLANCE_PORT", ""),
    ("placement", "placement", "PLACEMENT_PORT", ""),
    ("nova", "compute", "NOVA_API_PORT", "/v2.1"),
    ("neutron", "network", "NEUTRON_PORT", ""),
)
# name, vcpus, ram MB, disk GB
FLAVORS = (
    ("m1.tiny", 1, 128, 1),
    ("m1.small", 1, 512, 2),
    ("m1.medium", 2, 1024, 5),
    ("m1.large", 4, 2048, 10),
)


def env(name):
    return os.environ["LC_" + name]


def connect():
    return openstack.connect(
        auth_url=os.environ["OS_AUTH_URL"],
        username=os.environ["OS_USERNAME"],
        password=os.environ["OS_PASSWORD"],
        project_name=os.environ["OS_PROJECT_NAME"],
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=os.environ["OS_REGION_NAME"],
        interface="public",
        identity_api_version="3",
    )


def project(idc, name, description):
    p = idc.find_project(name, domain_id="default")
    if p is None:
        p = idc.create_project(name=name, domain_id="default", description=description)
        print("project", name, "created")
    return p


def user(idc, name, password, default_project):
    u = idc.find_user(name, domain_id="default")
    if u is None:
        u = idc.create_user(name=name, password=password, domain_id="default",
                            default_project_id=default_project.id)
        print("user", name, "created")
    else:
        idc.update_user(u, password=password)
    return u


def role(idc, name):
    r = idc.find_role(name)
    if r is None:
        r = idc.create_role(name=name)
        print("role", name, "created")
    return r


def grant(idc, prj, usr, rol):
    idc.assign_project_role_to_user(prj, usr, rol)


def accounts(conn):
    idc = conn.identity
    host = env("SERVICE_HOST")
    admin_role = role(idc, "admin")
    member_role = role(idc, "member")
    role(idc, "reader")
    # service tokens (X-Service-Token) are only honoured with the "service" role
    service_role = role(idc, "service")
    service = project(idc, "service", "Service users of the local cloud")
    for name in SERVICE_USERS:
        u = user(idc, name, env("SERVICE_PASSWORD"), service)
        grant(idc, service, u, admin_role)
        grant(idc, service, u, service_role)
    demo = project(idc, "demo", "Non-admin project of the local cloud")
    grant(idc, demo, user(idc, "demo", env("DEMO_PASSWORD"), demo), member_role)
    grant(idc, demo, idc.find_user("admin", domain_id="default"), admin_role)

    region = os.environ["OS_REGION_NAME"]
    for name, stype, port_var, path in SERVICES:
        svc = next((s for s in idc.services() if s.type == stype), None)
        if svc is None:
            svc = idc.create_service(name=name, type=stype, enabled=True,
                                     description="%s of the local cloud" % stype)
            print("service", name, "created")
        url = "http://%s:%s%s" % (host, env(port_var), path)
        existing = {e.interface: e for e in idc.endpoints(service_id=svc.id)}
        for interface in ("public", "internal", "admin"):
            e = existing.get(interface)
            if e is None:
                idc.create_endpoint(service_id=svc.id, interface=interface, url=url,
                                    region_id=region, enabled=True)
                print("endpoint", stype, interface, url, "created")
            elif e.url != url:
                idc.update_endpoint(e, url=url)
                print("endpoint", stype, interface, "moved to", url)


def flavors(conn):
    have = {f.name for f in conn.compute.flavors(is_public=None)}
    for name, vcpus, ram, disk in FLAVORS:
        if name not in have:
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk,
                                       is_public=True)
            print("flavor", name, "created")


# name, project, shared, external, provider (type, physnet), subnet name, cidr, dhcp
NETWORKS = (
    ("private", "admin", True, False, None, "private-subnet", "10.20.0.0/24", True),
    ("public", "service", False, True, ("flat", "physnet1"), "public-subnet", "172.24.4.0/24",
     False),
)


def networks(conn):
    """Tenant network `private` shared by every project (Nova picks it when a server asks for
    no network), provider network `public` owned by the service project so that Nova does not
    find two networks for admin or demo."""
    net = conn.network
    for name, prj, shared, external, provider, sname, cidr, dhcp in NETWORKS:
        project_id = conn.identity.find_project(prj, domain_id="default").id
        n = net.find_network(name, project_id=project_id)
        if n is None:
            attrs = dict(name=name, project_id=project_id, is_shared=shared,
                         is_router_external=external)
            if provider:
                attrs.update(provider_network_type=provider[0],
                             provider_physical_network=provider[1])
            n = net.create_network(**attrs)
            print("network", name, "created", n.id)
        if net.find_subnet(sname, network_id=n.id) is None:
            s = net.create_subnet(name=sname, network_id=n.id, project_id=project_id,
                                  ip_version=4, cidr=cidr, is_dhcp_enabled=dhcp)
            print("subnet", sname, cidr, "created", s.id)


def moves(conn, name, aggregate, hosts):
    """Project `name` (admin is its admin), the only one whose servers the compute hosts beyond
    the first take: `hosts` in aggregate `aggregate` with filter_tenant_id = that project, which
    nova's AggregateMultiTenancyIsolation filter reads (devstack/lib/compute_hosts.sh)."""
    idc = conn.identity
    prj = project(idc, name, "Servers that move between the compute hosts of the local cloud")
    grant(idc, prj, idc.find_user("admin", domain_id="default"), role(idc, "admin"))
    agg = next((a for a in conn.compute.aggregates() if a.name == aggregate), None)
    if agg is None:
        agg = conn.compute.create_aggregate(name=aggregate)
        print("aggregate", aggregate, "created")
    if (agg.metadata or {}).get("filter_tenant_id") != prj.id:
        agg = conn.compute.set_aggregate_metadata(agg, {"filter_tenant_id": prj.id})
    for host in hosts:
        if host not in (agg.hosts or []):
            agg = conn.compute.add_host_to_aggregate(agg, host)
            print("host", host, "added to", aggregate)


def main(argv):
    conn = connect()
    if argv[1:2] == ["moves"]:
        moves(conn, argv[2], argv[3], argv[4:])
        return 0
    for what in argv[1:]:
        {"accounts": accounts, "flavors": flavors, "networks": networks}[what](conn)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

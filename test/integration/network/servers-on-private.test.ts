/**
 * Container servers on the local cloud's Neutron network `private` (Zed: Linux bridge agent,
 * DHCP agent, iptables security groups; 2025.1: ML2/OVN, OVN ACLs), created with the real
 * `openstack` CLI: addresses in `server show`, ports ACTIVE and bound to this host, servers
 * reach each other and Neutron's data plane knows both (the DHCP namespace reaches them; OVN's
 * logical ports are up), a security group decides whether TCP gets through, and delete leaves
 * no port, no tap and no OVS port behind. Traffic stays inside namespaces of this machine.
 */
import { strict as assert } from 'node:assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { sharedImage } from '../lifecycle/fixture.js';
import { Created, cli, getServer, waitForGone, waitForStatus } from '../../helpers/servers.js';
import { inNetns, pidOf, pingFromDhcp, pings, waitForAddr, waitForGoneLink } from './netns.js';
import { computeConfValue, openstack, waitFor } from '../../helpers/cloud.js';
import { ovnPortUp, ovsPortsOf } from '../../helpers/ovn.js';
import { icmpSecurityGroup, networkId, neutron, port as getPort, ports as portsWhere } from '../../helpers/rest.js';

const run = promisify(execFile);
const RUN = `ncnet-${Date.now().toString(36)}`;

/** Tries a TCP connection from a namespace; true when it connected. */
async function tcpConnects(pid: number, ip: string, port: number): Promise<boolean> {
  const r = await inNetns(pid, ['socat', '-T', '2', '/dev/null', `TCP:${ip}:${port},connect-timeout=2`]);
  return r.ok;
}

describe('container servers on a Neutron network', function () {
  this.timeout(600_000);
  const created = new Created();
  let sg = '';
  let network = '';
  const servers: string[] = [];
  const ips: string[] = [];
  let listener: ChildProcess | undefined;
  /** The ports' binding: `bridge` (Linux bridge agent) or `ovs` (ML2/OVN). */
  let vifType = '';

  before(async () => {
    const image = await sharedImage();
    network = await networkId('private');
    sg = await icmpSecurityGroup(`${RUN}-icmp`);
    for (const n of ['a', 'b']) {
      const id = (await cli(['--os-compute-api-version', '2.37', 'server', 'create', '--image', image.id, '--flavor', 'm1.tiny',
        '--nic', `net-id=${network}`, '--security-group', sg, `${RUN}-${n}`, '-f', 'value', '-c', 'id'])).trim();
      created.servers.add(id);
      servers.push(id);
    }
    for (const id of servers) {
      const s = await waitForStatus(id, 'ACTIVE', 120_000);
      const addr = s.addresses.private?.[0]?.addr;
      assert.ok(addr, `server ${id} has an address on private`);
      ips.push(addr);
    }
  });

  after(async () => {
    listener?.kill();
    await created.cleanup();
    if (sg) await neutron('DELETE', `/security-groups/${sg}`).catch(() => undefined);
  });

  it('server show lists the addresses; the ports are ACTIVE and bound to this host', async () => {
    const host = computeConfValue('DEFAULT', 'host');
    for (const [i, id] of servers.entries()) {
      const show = await openstack<{ addresses: Record<string, string[]> }>(['server', 'show', id]);
      assert.deepEqual(show.addresses.private, [ips[i]]);
      const ports = await portsWhere({ device_id: id });
      assert.equal(ports.length, 1);
      const [port] = ports;
      assert.equal(port.status, 'ACTIVE');
      assert.equal(port['binding:host_id'], host);
      assert.equal(port.device_owner, 'compute:nova');
      vifType = port['binding:vif_type'];
      assert.ok(['bridge', 'ovs'].includes(vifType), `bound as ${vifType}`);
    }
  });

  it('the servers ping each other by their Neutron addresses, and Neutron\'s data plane knows both', async () => {
    const [a, b] = await Promise.all(servers.map(pidOf));
    assert.ok(await pings(a, ips[1]), 'a -> b');
    assert.ok(await pings(b, ips[0]), 'b -> a');
    if (vifType === 'bridge') {
      for (const ip of ips) assert.ok(await pingFromDhcp(network, ip), `DHCP namespace -> ${ip}`);
    } else {
      for (const id of servers) {
        const [port] = await portsWhere({ device_id: id });
        assert.ok(await ovnPortUp(port.id), `OVN logical port ${port.id} is up`);
      }
    }
  });

  it('a security group that allows only ICMP drops TCP; a rule for the port lets it through', async () => {
    const [a, b] = await Promise.all(servers.map(pidOf));
    listener = spawn('nsenter', ['-t', String(b), '-n', 'socat', 'TCP-LISTEN:8080,fork,reuseaddr', 'SYSTEM:echo hi'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await tcpConnects(a, ips[1], 8080), false, 'TCP is dropped while only ICMP is allowed');
    const rule = await openstack<{ id: string }>(['security', 'group', 'rule', 'create', '--ingress', '--protocol', 'tcp', '--dst-port', '8080', sg]);
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      ok = await tcpConnects(a, ips[1], 8080);
      if (!ok) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(ok, 'TCP gets through once the rule exists');
    await openstack(['security', 'group', 'rule', 'delete', rule.id], false);
  });

  it('stop/start keeps the address and the network (the sandbox holds it)', async () => {
    await cli(['server', 'stop', servers[0]]);
    await waitForStatus(servers[0], 'SHUTOFF');
    await cli(['server', 'start', servers[0]]);
    await waitForStatus(servers[0], 'ACTIVE');
    const a = await pidOf(servers[0]);
    assert.ok(await pings(a, ips[1]), 'a -> b after a restart');
  });

  it('interface attach and detach on a running server change what ip addr shows inside it', async () => {
    const net2 = (await neutron<{ network: { id: string } }>('POST', '/networks', { network: { name: `${RUN}-net2` } })).network.id;
    try {
      await neutron('POST', '/subnets', { subnet: { network_id: net2, ip_version: 4, cidr: '10.20.77.0/24', name: `${RUN}-net2-subnet` } });
      const a = await pidOf(servers[0]);
      await cli(['server', 'add', 'network', servers[0], net2]);
      const withEth1 = await waitForAddr(a, 'eth1', /inet 10\.20\.77\.\d+\/24/);
      assert.match(withEth1, /inet 10\.20\.77\.\d+\/24/);
      const show = await openstack<{ addresses: Record<string, string[]> }>(['server', 'show', servers[0]]);
      assert.equal(show.addresses[`${RUN}-net2`]?.length, 1, 'the API shows the new address');

      // A port the user made and passed: detached, it is unbound and kept.
      const port = (await openstack<{ id: string }>(['port', 'create', '--network', net2, `${RUN}-userport`])).id;
      await cli(['server', 'add', 'port', servers[0], port]);
      await waitForAddr(a, 'eth2', /inet 10\.20\.77\.\d+\/24/);
      await cli(['server', 'remove', 'port', servers[0], port]);
      await waitForGoneLink(a, 'eth2');
      // Nova unbinds the port after the device left the container
      await waitFor('the user\'s port kept, unbound', async () => (await getPort(port))?.device_id === '', 30_000, 500);
      await neutron('DELETE', `/ports/${port}`);

      await cli(['server', 'remove', 'network', servers[0], net2]);
      await waitForGoneLink(a, 'eth1');
      // Nova deletes it after the device left the container
      await waitFor('the port Nova made for the network deleted', async () => (await portsWhere({ network_id: net2, device_owner: 'compute:nova' })).length === 0,
        30_000, 500);
    } finally {
      await neutron('DELETE', `/networks/${net2}`).catch(() => undefined);
    }
  });

  it('delete leaves no port, no tap device and no OVS port of the servers', async () => {
    const ports = (await Promise.all(servers.map((id) => portsWhere({ device_id: id })))).flat().map((p) => p.id);
    await cli(['server', 'delete', ...servers]);
    for (const id of servers) {
      await waitForGone(id);
      created.servers.delete(id);
      assert.equal(await getServer(id), null);
    }
    const links = (await run('ip', ['-o', 'link'])).stdout;
    for (const p of ports) {
      assert.ok(!links.includes(`tap${p}`.slice(0, 14)), `tap of port ${p} is gone`);
      if (vifType === 'ovs') assert.equal(await ovsPortsOf(p), '', `no OVS port of ${p} is left`);
      assert.equal(await getPort(p), null, `port ${p} is deleted`);
    }
  });
});

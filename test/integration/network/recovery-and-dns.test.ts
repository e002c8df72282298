/**
 * A container server's network outlives what happens around it, against the real Neutron,
 * kernel and engine, on either backend (Linux bridge: the tap in the network's bridge, reached
 * from the DHCP namespace; OVN: the tap on br-int, reached from a second server): its
 * resolv.conf names the subnet's resolver; after nova-container is
 * killed and started again, a tap that vanished meanwhile is plugged again and devices left by
 * instances that are gone are removed; a network sandbox the engine restarts behind Nova's
 * back gets its port back within seconds, and the workload is restarted into it (where the
 * workload has a namespace of its own, the workload restarted gets its port back in its new
 * one); so does one whose tap vanished while the engine itself was down (the service checks every VIF when the engine's event stream returns). Reboots,
 * rebuild and resize keep the address too.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedImage } from '../lifecycle/fixture.js';
import { ENGINE_DRIVER } from '../glance-bridge/images.js';
import {
  Created, SANDBOXED, alivePid, cli, containerNameOf, engine, execIn, isAlive, logRecords, novaContainerPid, restartCompute, sandboxNameOf, waitForStatus,
} from '../../helpers/servers.js';
import { CLOUD_DIR, computeConfValue, localCloud, waitFor } from '../../helpers/cloud.js';
import { icmpSecurityGroup, networkId, neutron, ports } from '../../helpers/rest.js';
import { inNetns, pidOf, pingFromDhcp, waitForAddr } from './netns.js';

const RUN = `ncrec-${Date.now().toString(36)}`;
const ip = (args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const linkExists = (name: string): boolean => { try { ip(['link', 'show', 'dev', name]); return true; } catch { return false; } };
const masterOf = (name: string): string | undefined => (JSON.parse(ip(['-j', 'link', 'show', 'dev', name])) as { master?: string }[])[0]?.master;
/** The OVS bridge a device is a port of ('' when none). */
function ovsBridgeOf(name: string): string {
  const db = computeConfValue('os_vif_ovs', 'ovsdb_connection');
  try {
    return execFileSync('ovs-vsctl', [...(db ? [`--db=${db}`] : []), 'port-to-br', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return '';
  }
}
/** The nameservers of a resolv.conf text. */
const nameservers = (text: string): string[] => [...text.matchAll(/^nameserver (\S+)$/gm)].map((m) => m[1]);


describe('networks of running servers: DNS, and recovery after restarts', function () {
  this.timeout(600_000);
  const created = new Created();
  const host = computeConfValue('DEFAULT', 'host') ?? 'vm';
  let network = '';
  let sg = '';
  let server = '';
  let addr = '';
  let tap = '';
  let bridge = '';
  /** The port's binding: `bridge` (Linux bridge agent) or `ovs` (ML2/OVN). */
  let vifType = '';
  /** OVN has no DHCP namespace: a second server on the network is where pings come from. */
  let probe = '';

  const tapPlugged = (): boolean => linkExists(tap) && (vifType === 'ovs' ? ovsBridgeOf(tap) === bridge : masterOf(tap) === bridge);

  async function reaches(target: string): Promise<boolean> {
    if (vifType === 'bridge') return pingFromDhcp(network, target, 1);
    return (await inNetns(await pidOf(probe), ['ping', '-c', '1', '-W', '1', target])).ok;
  }

  /** Both ends of the server's port are there again and the network reaches it. */
  async function networkBack(what: string): Promise<void> {
    await waitFor(`${what}: tap ${tap} on ${bridge}`, async () => tapPlugged(), 30_000, 250);
    await waitForAddr(await pidOf(server), 'eth0', new RegExp(`inet ${addr.replace(/\./g, '\\.')}/`));
    await waitFor(`${what}: the network reaches ${addr}`, () => reaches(addr), 30_000, 500);
  }

  before(async () => {
    const image = await sharedImage();
    network = await networkId('private');
    sg = await icmpSecurityGroup(`${RUN}-icmp`);
    server = (await cli(['--os-compute-api-version', '2.37', 'server', 'create', '--image', image.id, '--flavor', 'm1.tiny',
      '--nic', `net-id=${network}`, '--security-group', sg, `${RUN}-a`, '-f', 'value', '-c', 'id'])).trim();
    created.servers.add(server);
    const s = await waitForStatus(server, 'ACTIVE', 120_000);
    addr = s.addresses.private?.[0]?.addr ?? '';
    assert.ok(addr, 'the server has an address on private');
    const [port] = await ports({ device_id: server });
    tap = `tap${port.id}`.slice(0, 14);
    vifType = port['binding:vif_type'];
    assert.ok(['bridge', 'ovs'].includes(vifType), `bound as ${vifType}`);
    if (vifType === 'ovs') {
      bridge = computeConfValue('neutron', 'ovs_bridge') ?? 'br-int';
      probe = (await cli(['--os-compute-api-version', '2.37', 'server', 'create', '--image', image.id, '--flavor', 'm1.tiny',
        '--nic', `net-id=${network}`, '--security-group', sg, `${RUN}-probe`, '-f', 'value', '-c', 'id'])).trim();
      created.servers.add(probe);
      await waitForStatus(probe, 'ACTIVE', 120_000);
    } else {
      bridge = `brq${network}`.slice(0, 14);
    }
    await networkBack('after the build');
  });

  after(async () => {
    if (!alivePid()) await localCloud('restart-compute').catch(() => undefined);
    await created.cleanup();
    if (sg) await neutron('DELETE', `/security-groups/${sg}`).catch(() => undefined);
  });

  it('the container\'s resolv.conf names the subnet\'s DHCP server, which resolves the network\'s names (OVN: the host\'s resolvers, as its DHCP announces)', async () => {
    const resolvText = (await execIn(server, ['cat', '/etc/resolv.conf'])).output;
    if (vifType === 'ovs') {
      // no DHCP port: OVN's DHCP announces the resolvers of Neutron's host (this one) when the
      // subnet names none, so the engine's copy of the host's file stays (it drops loopback ones)
      assert.doesNotMatch(resolvText, /written by nova-container/, resolvText);
      const hostResolvers = nameservers(readFileSync('/etc/resolv.conf', 'utf8')).filter((a) => !/^127\.|^::1$/.test(a));
      // with none left, dockerd writes its defaults
      assert.deepEqual(nameservers(resolvText), hostResolvers.length > 0 ? hostResolvers : ['8.8.8.8', '8.8.4.4'], resolvText);
      return;
    }
    const dhcpPorts = await ports({ network_id: network, device_owner: 'network:dhcp' });
    const dhcpIps = dhcpPorts.flatMap((p) => p.fixed_ips.map((f) => f.ip_address));
    assert.ok(dhcpIps.length > 0, 'private has a DHCP port');
    const servers = nameservers(resolvText);
    assert.ok(servers.length > 0 && servers.every((s) => dhcpIps.includes(s)), `resolv.conf names the DHCP server(s) ${dhcpIps.join(', ')}:\n${resolvText}`);
    // dnsmasq knows every port of the network by name (host-<address>): resolved through resolv.conf
    const name = `host-${addr.replace(/\./g, '-')}`;
    const lookup = await execIn(server, ['busybox', 'nslookup', '-type=a', name]);
    assert.equal(lookup.exitCode, 0, `nslookup ${name}: ${lookup.output}`);
    assert.match(lookup.output, new RegExp(addr.replace(/\./g, '\\.')));
  });

  it('soft and hard reboot, rebuild and resize keep the address and the network', async () => {
    const image = await sharedImage();
    const steps: [string[], string][] = [
      [['server', 'reboot', '--soft', server], 'ACTIVE'],
      [['server', 'reboot', '--hard', server], 'ACTIVE'],
      [['server', 'rebuild', '--image', image.id, server], 'ACTIVE'],
      [['server', 'resize', '--flavor', 'm1.small', server], 'VERIFY_RESIZE'],
      [['server', 'resize', 'confirm', server], 'ACTIVE'],
    ];
    for (const [step, status] of steps) {
      await cli(step);
      const s = await waitForStatus(server, status, 120_000);
      assert.deepEqual(s.addresses.private?.map((a) => a.addr), [addr], `${step.slice(1, 3).join(' ')} keeps the address`);
      await networkBack(step.slice(1, 3).join(' '));
    }
  });

  it('after the service is killed and started again: a vanished tap is plugged again, devices of instances that are gone are removed', async () => {
    const killed = novaContainerPid();
    process.kill(killed, 'SIGKILL');
    await waitFor('nova-container to die', async () => !isAlive(killed), 10_000, 100);
    ip(['link', 'del', tap]); // both ends go: the container has no eth0 now
    assert.equal((await inNetns(await pidOf(server), ['ip', 'link', 'show', 'dev', 'eth0'])).ok, false);
    assert.equal(await reaches(addr), false, 'unreachable while unplugged');
    // what a deleted instance and a plug cut short by a crash would leave
    const stale = `tap${randomBytes(5).toString('hex')}s`;
    ip(['link', 'add', stale, 'type', 'veth', 'peer', 'name', `${stale}p`]);
    ip(['link', 'set', 'dev', stale, 'alias', `nova-container:${host}:${randomUUID()}`]);
    const cutShort = `nc${randomBytes(6).toString('hex')}`;
    ip(['link', 'add', `${cutShort}h`, 'type', 'veth', 'peer', 'name', cutShort]);
    try {
      const t0 = Date.now();
      await restartCompute(killed);
      await networkBack('after the restart');
      console.log(`      network back ${Date.now() - t0} ms after restart-compute began`);
      assert.equal(linkExists(stale), false, 'the device of an instance that is gone is removed');
      assert.equal(linkExists(cutShort), false, 'the pair a crash cut short is removed');
      const report = logRecords('VIFs mended or removed').pop() as { mended?: { port: string; outcome: string }[]; removed?: string[] } | undefined;
      assert.ok(report?.mended?.some((m) => tap.startsWith(`tap${m.port}`.slice(0, 14)) && m.outcome === 'replugged'), JSON.stringify(report));
    } finally {
      for (const d of [stale, `${cutShort}h`]) if (linkExists(d)) ip(['link', 'del', d]);
    }
  });

  // where the workload has a namespace of its own, its restart gives it a new, empty one
  const restarted = SANDBOXED ? 'sandbox' : 'workload';
  it(SANDBOXED ? 'a network sandbox the engine restarts behind Nova\'s back gets its port back within seconds, and the workload joins it'
    : 'a workload the engine restarts behind Nova\'s back gets its port back in its new namespace within seconds', async () => {
    const before = await pidOf(server);
    const t0 = Date.now();
    await engine().getContainer(SANDBOXED ? sandboxNameOf(server) : containerNameOf(server)).restart({ t: 1 });
    await waitFor('the workload restarted into the new namespace', async () => (await pidOf(server)) !== before, 30_000, 250);
    await networkBack(`after the engine's restart of the ${restarted}`);
    console.log(`      network back ${Date.now() - t0} ms after the engine restarted the ${restarted}`);
    const s = await waitForStatus(server, 'ACTIVE');
    assert.equal(s.status, 'ACTIVE');
  });

  it('after the engine itself restarts (containers live-restored), a tap that vanished meanwhile is plugged again', async () => {
    // the engine's daemon as the local cloud started it (devstack/lib/docker.sh, podman.sh)
    const enginePid = Number(readFileSync(join(CLOUD_DIR, 'run', ENGINE_DRIVER === 'podman' ? 'podman.pid' : 'dockerd.pid'), 'utf8').trim());
    const containerPid = await pidOf(server);
    const backBefore = logRecords('engine event stream back: checking every instance\'s VIFs').length;
    process.kill(enginePid, 'SIGTERM');
    await waitFor('the engine to exit', async () => !isAlive(enginePid), 60_000, 200);
    ip(['link', 'del', tap]);
    const t0 = Date.now();
    await localCloud('up');
    await networkBack('after the engine restart');
    console.log(`      network back ${Date.now() - t0} ms after local-cloud.sh up began (the engine's start included)`);
    assert.equal(await pidOf(server), containerPid, 'the container ran on (dockerd\'s live-restore; podman\'s conmon)');
    assert.ok(logRecords('engine event stream back: checking every instance\'s VIFs').length > backBefore, 'the service saw the engine come back');
  });
});

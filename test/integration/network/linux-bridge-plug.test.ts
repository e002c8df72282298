/**
 * The Linux bridge plug against the real kernel and a real container: a veth whose host end
 * is the port's tap, enlisted in a bridge this test owns, the peer inside the container as
 * eth0 with the port's MAC, address, default route and MTU; removing the tap removes both ends; ensure
 * mends a tap that lost its bridge or vanished; the devices it made are listed by owner.
 * (Neutron's agent, ports and security groups come with the networking tests.)
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { LinuxBridgePlugger } from '../../../src/network/linux-bridge-plug.js';
import type { VifModel } from '../../../src/network/network-info.js';
import { processNetns } from '../../../src/network/vif-plug.js';
import { busyboxRootfs } from '../glance-bridge/images.js';
import { testVif } from './vif-fixture.js';
import { engine, importRootfsWith } from '../../helpers/servers.js';
import type Docker from 'dockerode';

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** `ip ARGS` inside the container's network namespace (its image has no ip command). */
async function ipInside(c: Docker.Container, args: string[]): Promise<string> {
  const pid = (await c.inspect()).State.Pid;
  return sh('nsenter', ['-t', String(pid), '-n', 'ip', ...args]);
}

function vif(portId: string, bridge: string, address: string): VifModel {
  return testVif({ id: portId, type: 'bridge', mac: 'fa:16:3e:12:34:56', address, mtu: 1400, bridge });
}

describe('Linux bridge VIF plug into a running container', function () {
  this.timeout(120_000);
  const bridge = `brqt${randomBytes(5).toString('hex')}`; // ours, not a Neutron network's
  const ref = `nc-plug-test:${Date.now().toString(36)}`;
  let container: Docker.Container;
  const plugger = new LinuxBridgePlugger('plug-test');
  const v = vif(randomUUID(), bridge, '10.98.31.10');
  const owner = randomUUID();
  const target = (pid: number) => ({ netns: processNetns(pid), ifname: 'eth0', instanceUuid: owner });
  const isPlugged = async () => (await plugger.plugged()).some((d) => d.devname === v.devname && d.instanceUuid === owner);

  before(async () => {
    await importRootfsWith(await busyboxRootfs(), ref, ['CMD ["/bin/sleep", "100000"]']);
    container = await engine().createContainer({ Image: ref, HostConfig: { NetworkMode: 'none' } });
    await container.start();
  });

  after(async () => {
    await plugger.remove(v.devname).catch(() => undefined);
    await container?.remove({ force: true }).catch(() => undefined);
    await engine().getImage(ref).remove({ force: true }).catch(() => undefined);
    try { sh('ip', ['link', 'del', bridge]); } catch { /* not created */ }
  });

  it('plugs: tap in the bridge on the host, eth0 with MAC, address, MTU and default route inside', async () => {
    const pid = (await container.inspect()).State.Pid;
    await plugger.plug(v, target(pid));
    assert.match(sh('ip', ['-o', 'link', 'show', 'dev', v.devname]), new RegExp(`master ${bridge}`));
    assert.equal(await isPlugged(), true);
    const addr = await ipInside(container, ['addr', 'show', 'dev', 'eth0']);
    assert.match(addr, /link\/ether fa:16:3e:12:34:56/);
    assert.match(addr, /inet 10\.98\.31\.10\/24/);
    assert.match(addr, /mtu 1400/);
    assert.match(await ipInside(container, ['route']), /default via 10\.98\.31\.1 dev eth0/);
  });

  it('the host reaches the container over the bridge', async () => {
    sh('ip', ['addr', 'add', '10.98.31.1/24', 'dev', bridge]);
    const out = sh('ping', ['-c', '1', '-w', '10', '10.98.31.10']);
    assert.match(out, /1 received/);
  });

  it('removing the tap removes both ends; plugging again after a restart replaces a stale tap', async () => {
    await plugger.remove(v.devname);
    assert.equal(await isPlugged(), false);
    assert.doesNotMatch(await ipInside(container, ['link']), /eth0/);
    await plugger.remove(v.devname); // already gone: not an error
    const pid = (await container.inspect()).State.Pid;
    await plugger.plug(v, target(pid));
    await plugger.plug(v, target(pid)); // the tap left over is replaced, not an error
    assert.equal(await isPlugged(), true);
    assert.match(await ipInside(container, ['addr', 'show', 'dev', 'eth0']), /inet 10\.98\.31\.10\/24/);
  });

  it('ensure: ok when intact, re-attaches a tap that lost its bridge, plugs again a tap that is gone', async () => {
    const pid = (await container.inspect()).State.Pid;
    assert.equal(await plugger.ensure(v, target(pid)), 'ok');
    // after an earlier interface was detached, this one keeps its name at a lower index
    assert.equal(await plugger.ensure(v, { ...target(pid), ifname: 'eth1' }), 'ok', 'found by its peer, not by its name');
    sh('ip', ['link', 'set', v.devname, 'nomaster']);
    assert.equal(await plugger.ensure(v, target(pid)), 'reattached');
    assert.match(sh('ip', ['-o', 'link', 'show', 'dev', v.devname]), new RegExp(`master ${bridge}`));
    sh('ip', ['link', 'del', v.devname]);
    assert.doesNotMatch(await ipInside(container, ['link']), /eth0/);
    assert.equal(await plugger.ensure(v, target(pid)), 'replugged');
    assert.match(await ipInside(container, ['addr', 'show', 'dev', 'eth0']), /inet 10\.98\.31\.10\/24/);
    assert.match(sh('ping', ['-c', '1', '-w', '10', '10.98.31.10']), /1 received/);
  });

  it('a plug cut short (peer still on the host) is listed without owner, plugged again by ensure, and removable', async () => {
    const stray = `nc${randomBytes(6).toString('hex')}`;
    sh('ip', ['link', 'add', `tap${stray.slice(2)}`, 'type', 'veth', 'peer', 'name', stray]);
    try {
      assert.ok((await plugger.plugged()).some((d) => d.devname === stray && d.instanceUuid === null));
      await plugger.remove(stray);
      assert.ok(!(await plugger.plugged()).some((d) => d.devname === stray));
      assert.throws(() => sh('ip', ['link', 'show', 'dev', `tap${stray.slice(2)}`])); // the pair went with it
      await plugger.remove(stray); // gone: not an error
    } finally {
      try { sh('ip', ['link', 'del', stray]); } catch { /* removed */ }
    }
    // the tap whose peer never left the host is plugged again
    const pid = (await container.inspect()).State.Pid;
    await plugger.remove(v.devname);
    sh('ip', ['link', 'add', v.devname, 'type', 'veth', 'peer', 'name', `nc${v.id.replace(/-/g, '').slice(0, 12)}`]);
    assert.equal(await plugger.ensure(v, target(pid)), 'replugged');
    assert.match(await ipInside(container, ['addr', 'show', 'dev', 'eth0']), /inet 10\.98\.31\.10\/24/);
  });
});

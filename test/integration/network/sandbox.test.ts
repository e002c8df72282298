/**
 * A server's network exists before its workload starts and comes through every restart of it,
 * against the real CLI, Neutron, kernel and engine: an image whose command prints its address,
 * host name, /etc/hosts and resolv.conf at start shows the port's address in `openstack
 * console log show`; a restart of the workload by the engine, soft and hard reboots and
 * stop/start keep the address and the Neutron port, plugging nothing again where a sandbox
 * holds the namespace (the log says so) and the port once each where the workload has its own;
 * `--nic none` gives only a loopback.
 */
import { strict as assert } from 'node:assert';
import { busyboxRootfs, saveImage } from '../glance-bridge/images.js';
import {
  Created, SANDBOXED, cli, containerNameOf, engine, execIn, importRootfsWith, logRecords, waitForStatus,
} from '../../helpers/servers.js';
import { waitFor } from '../../helpers/cloud.js';
import { ports } from '../../helpers/rest.js';

const RUN = `ncsbx-${Date.now().toString(36)}`;
/** What the workload's first process prints before anything else runs. */
const FIRST_WORDS = 'busybox hostname; busybox cat /etc/hosts /etc/resolv.conf; busybox ip -4 addr; exec busybox sleep 1000000';


describe('instance network: it exists before the workload starts and stays', function () {
  this.timeout(600_000);
  const created = new Created();
  let image = '';
  let server = '';
  let addr = '';
  let port = '';

  const plugs = (): number => logRecords('VIF plugged', { instance: server }).length;

  before(async () => {
    const ref = `${RUN}-first-words:v1`;
    await importRootfsWith(await busyboxRootfs(), ref, [`CMD ["/bin/busybox", "sh", "-c", "${FIRST_WORDS}"]`]);
    created.engineRefs.add(ref);
    image = await created.uploadImage(`${RUN}-first-words`, await saveImage(engine(), ref));
    server = (await cli(['--os-compute-api-version', '2.37', 'server', 'create', '--image', image, '--flavor', 'm1.tiny',
      '--network', 'private', `${RUN}-a`, '-f', 'value', '-c', 'id'])).trim();
    created.servers.add(server);
    const s = await waitForStatus(server, 'ACTIVE', 120_000);
    addr = s.addresses.private?.[0]?.addr ?? '';
    assert.ok(addr, 'the server has an address on private');
    [{ id: port }] = await ports({ device_id: server });
  });

  after(() => created.cleanup());

  it('the first process sees its address, host name, /etc/hosts and resolver (openstack console log show)', async () => {
    const log = await waitFor('the first words in the console log', async () => {
      const out = await cli(['console', 'log', 'show', server]);
      return /inet /.test(out) && out.includes(addr) ? out : null;
    }, 30_000, 500);
    assert.match(log, new RegExp(`inet ${addr.replace(/\./g, '\\.')}/\\d+ .*eth0`), `eth0 holds the port's address from the start:\n${log}`);
    assert.match(log, new RegExp(`^${addr.replace(/\./g, '\\.')}\\s+${RUN}-a$`, 'm'), '/etc/hosts names the server on its address');
    assert.match(log, new RegExp(`^${RUN}-a$`, 'm'), 'the host name is the server\'s');
    assert.match(log, /^nameserver \d+\.\d+\.\d+\.\d+$/m, 'resolv.conf names Neutron\'s resolver');
    assert.equal(plugs(), 1, 'one VIF plugged, once');
  });

  // With a sandbox (Docker) the namespace outlives every step, and nothing is plugged again. In a
  // workload's own namespace (podman) each step brings a new one, which is plugged before a start
  // of ours and, after the engine's restart, by the VIF check the start event sets off.
  it(SANDBOXED ? 'docker restart, soft and hard reboot, stop and start keep the address and the port, and plug nothing again'
    : 'podman restart, soft and hard reboot, stop and start keep the address and the port, each plugging the one port again', async () => {
    const steps: [string, () => Promise<unknown>][] = [
      ['engine restart', () => engine().getContainer(containerNameOf(server)).restart({ t: 1 })],
      ['reboot --soft', () => cli(['server', 'reboot', '--soft', server])],
      ['reboot --hard', () => cli(['server', 'reboot', '--hard', server])],
      ['stop, start', async () => {
        await cli(['server', 'stop', server]);
        await waitForStatus(server, 'SHUTOFF', 60_000);
        await cli(['server', 'start', server]);
      }],
    ];
    for (const [i, [what, step]] of steps.entries()) {
      await step();
      const s = await waitForStatus(server, 'ACTIVE', 120_000);
      assert.deepEqual(s.addresses.private?.map((a) => a.addr), [addr], `${what}: the address stays`);
      const seen = await waitFor(`${what}: the workload sees eth0 with its address`, async () => {
        const out = (await execIn(server, ['busybox', 'ip', '-4', 'addr', 'show', 'dev', 'eth0'])).output;
        return out.includes(`inet ${addr}/`) ? out : null;
      }, SANDBOXED ? 1 : 30_000, 500);
      assert.match(seen, new RegExp(`inet ${addr.replace(/\./g, '\\.')}/`));
      const now = await waitFor(`${what}: the same port, ACTIVE`, async () => {
        const p = await ports({ device_id: server });
        return p.every((x) => x.status === 'ACTIVE') ? p : null;
      }, SANDBOXED ? 1 : 60_000, 500);
      assert.deepEqual(now.map((p) => p.id), [port], `${what}: the same port`);
      // the plug's log line follows the plug the workload already sees
      if (!SANDBOXED) await waitFor(`${what}: the plug logged`, async () => plugs() >= 2 + i, 10_000, 200).catch(() => undefined);
      assert.equal(plugs(), SANDBOXED ? 1 : 2 + i, `${what}: ${SANDBOXED ? 'nothing plugged again' : 'the port plugged again, once'}`);
    }
    if (SANDBOXED) {
      assert.ok(logRecords('workload started behind Nova\'s back; its network sandbox kept its interfaces: nothing to plug', { instance: server }).length >= 1,
        'the service saw the docker restart and knew there was nothing to plug');
    } else {
      assert.equal(logRecords('VIF plugged', { instance: server }).filter((r) => r.outcome === 'replugged').length, 1,
        'the VIF check plugged the port again after podman restart');
    }
  });

  it('--nic none gives a loopback only', async () => {
    const bare = await created.boot(`${RUN}-bare`, { image });
    await waitForStatus(bare, 'ACTIVE', 120_000);
    const links = await execIn(bare, ['busybox', 'ip', '-o', 'link']);
    assert.deepEqual(links.output.trim().split('\n').map((l) => l.split(': ')[1]), ['lo']);
  });
});

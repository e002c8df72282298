/**
 * A port that never becomes ACTIVE: the Linux bridge agent is frozen (SIGSTOP) while a server
 * builds, so Neutron never sends network-vif-plugged. With vif_plugging_is_fatal = true the
 * build fails at vif_plugging_timeout with a fault naming the port, and leaves nothing: no
 * container, no tap, no port, no allocation. The local cloud's compute runs for the test with
 * a short timeout (same host, same state) and is restored afterwards.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedImage } from '../lifecycle/fixture.js';
import { Created, allocations, alivePid, cli, inspectContainer, isAlive, waitForServer } from '../../helpers/servers.js';
import { CLOUD_DIR, computeConfValue, localCloud, removeComputeDir, startCompute, waitFor, type ComputeProcess } from '../../helpers/cloud.js';
import { neutron, ports } from '../../helpers/rest.js';

const RUN = `ncvif-${Date.now().toString(36)}`;
const TIMEOUT_S = 8;

function daemonPid(name: string): number {
  return Number(readFileSync(join(CLOUD_DIR, 'run', `${name}.pid`), 'utf8').trim());
}

describe('a port that never becomes ACTIVE, with vif_plugging_is_fatal', function () {
  this.timeout(600_000);
  const created = new Created();
  const host = computeConfValue('DEFAULT', 'host') ?? 'vm';
  let compute: ComputeProcess | undefined;
  let agent = 0;
  let sg = '';

  before(async () => {
    await sharedImage();
    const cloudCompute = alivePid();
    if (cloudCompute) {
      process.kill(-cloudCompute, 'SIGTERM'); // its process group, as local-cloud.sh stops it
      await waitFor('the cloud\'s nova-container to stop', async () => !isAlive(cloudCompute), 60_000, 200);
    }
    compute = startCompute(host, `[DEFAULT]\nstate_path = ${join(CLOUD_DIR, 'nova-container')}\nvif_plugging_timeout = ${TIMEOUT_S}\nvif_plugging_is_fatal = true\n`);
    await compute.serving();
    sg = (await neutron<{ security_group: { id: string } }>('POST', '/security-groups', { security_group: { name: `${RUN}-sg` } })).security_group.id;
  });

  after(async () => {
    if (agent) try { process.kill(agent, 'SIGCONT'); } catch { /* gone */ }
    await created.cleanup();
    if (sg) await neutron('DELETE', `/security-groups/${sg}`).catch(() => undefined);
    await compute?.stop();
    removeComputeDir(host);
    await localCloud('restart-compute');
  });

  it('the build fails with a fault naming the port and the timeout; no container, tap, port or allocation is left', async () => {
    const image = await sharedImage();
    // what makes Neutron report the port ACTIVE: the Linux bridge agent (Zed), ovn-controller (OVN)
    agent = daemonPid(existsSync(join(CLOUD_DIR, 'run', 'ovn-controller.pid')) ? 'ovn-controller' : 'neutron-linuxbridge-agent');
    process.kill(agent, 'SIGSTOP');
    let id = '';
    const t0 = Date.now();
    try {
      id = (await cli(['--os-compute-api-version', '2.37', 'server', 'create', '--image', image.id, '--flavor', 'm1.tiny',
        '--network', 'private', '--security-group', sg, `${RUN}-a`, '-f', 'value', '-c', 'id'])).trim();
      created.servers.add(id);
      const s = await waitForServer(id, 'ERROR', (x) => x?.status === 'ERROR' || x?.status === 'ACTIVE', 90_000, 250, false);
      assert.equal(s?.status, 'ERROR', 'the build fails');
      console.log(`      ERROR ${Date.now() - t0} ms after server create (vif_plugging_timeout = ${TIMEOUT_S} s): ${s?.fault?.message}`);
      const m = /network-vif-plugged-([0-9a-f-]{36})/.exec(s?.fault?.message ?? '');
      assert.ok(m, `the fault names the port: ${s?.fault?.message}`);
      assert.match(s?.fault?.message ?? '', /vif_plugging_timeout/);
      const port = m[1];
      assert.equal(await inspectContainer(id), null, 'no container');
      assert.doesNotMatch(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }), new RegExp(`tap${port.slice(0, 11)}`), 'no tap');
      assert.deepEqual(await ports({ device_id: id }), [], 'the port Nova made is deleted');
      // the build saves ERROR, then gives the allocation back
      await waitFor('no allocation', async () => Object.keys(await allocations(id)).length === 0, 30_000, 500);
    } finally {
      process.kill(agent, 'SIGCONT');
      agent = 0;
    }
  });
});

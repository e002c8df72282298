/**
 * `openstack server create` on the local cloud: the server becomes ACTIVE as a running
 * container `nova-<server id>` with the flavor's limits, labelled with its uuid and without a
 * network; the console log is the container's output; server properties are its environment,
 * user data and metadata are files inside it; an image's `os_command_line` replaces the
 * command.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Created, SANDBOXED, cli, engine, execIn, inspectContainer, sandboxNameOf, waitForStatus, type Server,
} from '../../helpers/servers.js';
import { IMAGE_SCRIPT, MARKER, RUN, newImageOfArchive, sharedImage, workDir } from './fixture.js';

describe('lifecycle: create', function () {
  this.timeout(300_000);
  const c = new Created();
  const userData = `#!/bin/sh\n# user data of ${RUN}\necho hello from user data\n`;
  let id: string;
  let server: Server;

  before(async function () {
    this.timeout(300_000);
    const image = await sharedImage();
    const file = join(workDir(), 'user-data');
    writeFileSync(file, userData);
    // m1.medium: 2 vcpus, so the CPU limit cannot match by accident
    const t0 = Date.now();
    id = await c.boot(`${RUN}-create`, { image: image.id, flavor: 'm1.medium', properties: { FOO: 'bar', 'not-an-env-name': 'x' }, userDataFile: file, cli: true });
    const cliMs = Date.now() - t0;
    server = await waitForStatus(id, 'ACTIVE', 120_000);
    console.log(`      boot with a download: server create returned after ${cliMs} ms, ACTIVE after ${Date.now() - t0} ms`);
  });

  after(async function () {
    this.timeout(180_000);
    await c.cleanup();
  });

  it('is ACTIVE on this host with a running container nova-<id>: flavor limits, uuid labels, in its network namespace only', async () => {
    assert.equal(server['OS-EXT-SRV-ATTR:host'], 'vm');
    assert.equal(server['OS-EXT-STS:power_state'], 1, 'RUNNING');
    assert.equal(server.flavor.vcpus, 2);
    const info = await inspectContainer(id);
    assert.ok(info, `container nova-${id} exists`);
    assert.equal(info.Name, `/nova-${id}`);
    assert.equal(info.State.Status, 'running');
    assert.equal(Number(info.HostConfig.CpuQuota) / Number(info.HostConfig.CpuPeriod), server.flavor.vcpus, 'vCPUs as a CFS quota');
    assert.equal(info.HostConfig.Memory, server.flavor.ram * 1024 * 1024);
    if (SANDBOXED) {
      const sandbox = await engine().getContainer(sandboxNameOf(id)).inspect();
      // created by name; dockerd 20.10 records the id instead once it started the container
      assert.ok([`container:${sandboxNameOf(id)}`, `container:${sandbox.Id}`].includes(info.HostConfig.NetworkMode ?? ''),
        `the workload joins its sandbox's namespace (NetworkMode ${info.HostConfig.NetworkMode})`);
      assert.equal(sandbox.HostConfig.NetworkMode, 'none', 'which is none of the engine\'s networks');
      assert.equal(sandbox.State.Status, 'running');
      assert.equal(sandbox.Config.Labels['org.openstack.nova.instance-uuid'], id);
    } else {
      assert.equal(info.HostConfig.NetworkMode, 'none', 'a namespace of its own, of none of the engine\'s networks');
      assert.equal(info.Config.Hostname, server.name, 'with the server\'s host name');
      assert.equal(await engine().getContainer(sandboxNameOf(id)).inspect().catch(() => null), null, 'and no sandbox');
    }
    assert.equal(info.Config.Labels['org.openstack.nova.instance-uuid'], id);
    assert.equal(info.Config.Labels['org.openstack.nova.host'], 'vm');
    assert.deepEqual(info.Config.Cmd, ['/bin/sh', '-c', IMAGE_SCRIPT], 'the image\'s own command');
  });

  it('openstack console log show prints what the container wrote, with the marker', async () => {
    const log = await cli(['console', 'log', 'show', id]);
    assert.match(log, new RegExp(`^${MARKER}$`, 'm'));
  });

  it('--property FOO=bar is in the container\'s environment; a key that is no variable name is not', async () => {
    const { output, exitCode } = await execIn(id, ['/bin/env']);
    assert.equal(exitCode, 0);
    assert.match(output, /^FOO=bar$/m);
    assert.doesNotMatch(output, /not-an-env-name/);
    // the CMD printed its environment at start: the process itself had it
    const log = await cli(['console', 'log', 'show', id]);
    assert.match(log, /^FOO=bar$/m);
  });

  it('--user-data is /openstack/latest/user_data; /openstack/latest/meta_data.json names the server', async () => {
    const ud = await execIn(id, ['/bin/cat', '/openstack/latest/user_data']);
    assert.equal(ud.exitCode, 0, ud.output);
    assert.equal(ud.output, userData);
    const md = await execIn(id, ['/bin/cat', '/openstack/latest/meta_data.json']);
    assert.equal(md.exitCode, 0, md.output);
    const meta = JSON.parse(md.output) as { uuid: string; name: string; meta: Record<string, string> };
    assert.equal(meta.uuid, id);
    assert.equal(meta.name, `${RUN}-create`);
    assert.equal(meta.meta.FOO, 'bar');
  });

  it('an image property os_command_line replaces the image\'s command', async () => {
    const image = await newImageOfArchive(c, 'cmdline');
    const cmdMarker = `CMDLINE-MARKER-${RUN}`;
    await cli(['image', 'set', '--property', `os_command_line=/bin/sh -c 'echo ${cmdMarker} "two words"; exec sleep 1000000'`, image.id]);
    const sid = await c.boot(`${RUN}-cmdline`, { image: image.id, cli: true });
    await waitForStatus(sid, 'ACTIVE', 120_000);
    const info = await inspectContainer(sid);
    assert.deepEqual(info?.Config.Cmd, ['/bin/sh', '-c', `echo ${cmdMarker} "two words"; exec sleep 1000000`]);
    const log = await cli(['console', 'log', 'show', sid]);
    assert.match(log, new RegExp(`^${cmdMarker} two words$`, 'm'));
    assert.doesNotMatch(log, new RegExp(MARKER), 'the image\'s CMD did not run');
  });
});

/**
 * DockerEngine.listContainers against the local cloud's dockerd: one listing call gives each
 * container's state, exit code, image and labels as an inspect would (the periodic tasks and
 * /metrics read the host's instances from it, without an inspect per container).
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { DockerEngine } from '../../../src/runtime/docker-engine.js';
import { ENGINE_SOCKET, busyboxRootfs, dockerClient, importRootfs } from '../glance-bridge/images.js';

describe('the Docker engine\'s listing', function () {
  this.timeout(120_000);
  const run = `nc-list-${randomUUID().slice(0, 8)}`;
  const engine = new DockerEngine(ENGINE_SOCKET, 60_000);
  const docker = dockerClient();
  let image = '';

  before(async () => {
    image = await importRootfs(docker, await busyboxRootfs(), run, 'v1');
  });

  after(async () => {
    for (const c of await docker.listContainers({ all: true, filters: { label: [`test-run=${run}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true });
    }
    await engine.removeImage(`${run}:v1`).catch(() => undefined);
  });

  it('reports state, exit code, image, name and labels of each labelled container as inspect does', async () => {
    const make = async (name: string, cmd: string[]) => (await docker.createContainer({
      name: `${run}-${name}`, Image: image, Cmd: cmd, Labels: { 'test-run': run, role: name },
    })).id;
    const exited = await make('exited', ['/bin/sh', '-c', 'exit 3']);
    const running = await make('running', ['/bin/sleep', '300']);
    const created = await make('created', ['/bin/true']);
    await docker.getContainer(exited).start();
    await docker.getContainer(exited).wait();
    await docker.getContainer(running).start();

    const listed = await engine.listContainers({ 'test-run': run });
    assert.equal(listed.length, 3);
    for (const id of [exited, running, created]) {
      const fromList = listed.find((c) => c.id === id);
      const inspected = await engine.inspectContainer(id);
      assert.ok(fromList && inspected, id);
      assert.deepEqual(fromList, {
        id: inspected.id, name: inspected.name, image: inspected.image, labels: inspected.labels, state: inspected.state, exitCode: inspected.exitCode,
      });
    }
    assert.deepEqual(listed.map((c) => `${c.labels.role}:${c.state}:${c.exitCode}`).sort(), ['created:created:0', 'exited:exited:3', 'running:running:0']);
    assert.deepEqual(await engine.listContainers({ 'test-run': run, role: 'exited' }).then((l) => l.map((c) => c.id)), [exited], 'every label must match');
  });
});

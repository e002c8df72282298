/**
 * Power actions through the real CLI on one server, each checked on both sides: the state Nova
 * shows and the container's state in the engine. stop/start keep the container (its file system),
 * reboots restart it, pause and suspend freeze it; `openstack server event list` records
 * every action and each compute event succeeded.
 */
import { strict as assert } from 'node:assert';
import {
  Created, cli, execIn, inspectContainer, instanceAction, waitForStatus,
} from '../../helpers/servers.js';
import { RUN, sharedImage } from './fixture.js';

describe('lifecycle: power actions', function () {
  this.timeout(300_000);
  const c = new Created();
  let id: string;
  let containerId: string;

  async function container() {
    const info = await inspectContainer(id);
    assert.ok(info, `container nova-${id} exists`);
    assert.equal(info.Id, containerId, 'still the same container');
    return info;
  }

  /** Nova's power_state codes (nova/compute/power_state.py) as the API shows them. */
  const POWER = { ACTIVE: 1, PAUSED: 3, SHUTOFF: 4, SUSPENDED: 7 } as Record<string, number>;

  async function act(args: string[], status: string): Promise<number> {
    const t0 = Date.now();
    await cli(['server', ...args, id]);
    const s = await waitForStatus(id, status, 120_000);
    assert.equal(s['OS-EXT-STS:power_state'], POWER[status], `power_state when ${status}`);
    return Date.now() - t0;
  }

  before(async function () {
    this.timeout(300_000);
    const image = await sharedImage();
    id = await c.boot(`${RUN}-power`, { image: image.id });
    await waitForStatus(id, 'ACTIVE', 120_000);
    containerId = (await inspectContainer(id))!.Id;
    const w = await execIn(id, ['/bin/sh', '-c', 'echo kept > /root/kept']);
    assert.equal(w.exitCode, 0);
  });

  after(async function () {
    this.timeout(180_000);
    await c.cleanup();
  });

  it('stop -> SHUTOFF, the container exited', async () => {
    const ms = await act(['stop'], 'SHUTOFF');
    const info = await container();
    assert.equal(info.State.Status, 'exited');
    console.log(`      stop: ${ms} ms (CLI + wait)`);
  });

  it('start -> ACTIVE, the same container runs again with its file system', async () => {
    await act(['start'], 'ACTIVE');
    const info = await container();
    assert.equal(info.State.Status, 'running');
    assert.equal((await execIn(id, ['/bin/cat', '/root/kept'])).output, 'kept\n');
  });

  for (const kind of ['--soft', '--hard']) {
    it(`reboot ${kind} -> ACTIVE, the container restarted (StartedAt changed)`, async () => {
      const before = (await container()).State.StartedAt;
      const ms = await act(['reboot', kind], 'ACTIVE');
      const info = await container();
      assert.equal(info.State.Status, 'running');
      assert.notEqual(info.State.StartedAt, before, 'StartedAt changed');
      assert.ok(Date.parse(info.State.StartedAt) > Date.parse(before));
      console.log(`      reboot ${kind}: ${ms} ms (CLI + wait)`);
    });
  }

  it('pause -> PAUSED (container paused), unpause -> ACTIVE (running)', async () => {
    await act(['pause'], 'PAUSED');
    assert.equal((await container()).State.Status, 'paused');
    await act(['unpause'], 'ACTIVE');
    assert.equal((await container()).State.Status, 'running');
  });

  it('suspend -> SUSPENDED (container frozen), resume -> ACTIVE (running)', async () => {
    const frozenAt = (await container()).State.StartedAt;
    await act(['suspend'], 'SUSPENDED');
    const info = await container();
    assert.equal(info.State.Status, 'paused');
    await act(['resume'], 'ACTIVE');
    const after = await container();
    assert.equal(after.State.Status, 'running');
    assert.equal(after.State.StartedAt, frozenAt, 'resumed, not restarted');
  });

  it('openstack server event list has every action, and each compute event succeeded', async () => {
    const rows = JSON.parse(await cli(['server', 'event', 'list', id, '-f', 'json'])) as { 'Request ID': string; Action: string }[];
    const actions = rows.map((r) => r.Action).sort();
    assert.deepEqual(actions, ['create', 'pause', 'reboot', 'reboot', 'resume', 'start', 'stop', 'suspend', 'unpause'].sort());
    for (const r of rows) {
      const a = await instanceAction(id, r['Request ID']);
      const events = a.events ?? [];
      assert.ok(events.some((e) => e.event.startsWith('compute_')), `${r.Action} has a compute event: ${JSON.stringify(events)}`);
      for (const e of events) assert.equal(e.result, 'Success', `${r.Action}: ${e.event} ${e.result}`);
    }
  });
});

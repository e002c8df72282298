/**
 * The engine's answer to a btrfs driver refusing to mount a full root disk
 * (DockerEngine.mountingRootDisk): the refusal of either engine's driver is tried once more with
 * room for the mount's limit ioctl; any other error is the caller's as it was; a second failure
 * keeps the refusal and its status.
 */
import { strict as assert } from 'node:assert';
import { DockerEngine, EngineError } from '../../../src/runtime/docker-engine.js';
import { createLogger } from '../../../src/common/log.js';

/** dockerd 20.10's and podman 4.3's words for the refusal, as the engines answered them here. */
const DOCKERD = 'commit container 59224e69: Failed to limit qgroup for &{}: disk quota exceeded';
const PODMAN = 'prepare container 7ca92089: mounting storage for container 7ca92089: failed to limit qgroup for &{}: disk quota exceeded';

class RoomCountingEngine extends DockerEngine {
  rooms: string[] = [];
  roomFails: Error | undefined;

  constructor() {
    super('unix:///nonexistent/engine.sock', 1000, createLogger({ name: 'test', level: 'silent' }));
  }

  protected override async roomToMount<T>(id: string, mount: () => Promise<T>): Promise<T> {
    this.rooms.push(id);
    if (this.roomFails) throw this.roomFails;
    return mount();
  }

  mounting<T>(id: string, op: () => Promise<T>): Promise<T> {
    return this.mountingRootDisk(id, op);
  }
}

/** An op failing with `errors` in turn, then answering 'mounted'. */
function failing(...errors: Error[]): { op: () => Promise<string>; calls: () => number } {
  let n = 0;
  return {
    op: async () => {
      const err = errors[n++];
      if (err) throw err;
      return 'mounted';
    },
    calls: () => n,
  };
}

describe('runtime: a full root disk at a mount', () => {
  for (const [engine, message] of [['dockerd', DOCKERD], ['podman', PODMAN]]) {
    it(`${engine}'s refusal: the mount is tried once more, with room for its limit`, async () => {
      const engineUnderTest = new RoomCountingEngine();
      const { op, calls } = failing(new EngineError(message, 500));
      assert.equal(await engineUnderTest.mounting('c1', op), 'mounted');
      assert.equal(calls(), 2);
      assert.deepEqual(engineUnderTest.rooms, ['c1']);
    });
  }

  it('any other error is the caller\'s as it was, with no room made', async () => {
    const engineUnderTest = new RoomCountingEngine();
    for (const other of [new EngineError('start container c1: no such container', 404), new Error('write /fill: disk quota exceeded'), new Error('Failed to limit qgroup for &{}: invalid argument')]) {
      const { op, calls } = failing(other);
      await assert.rejects(engineUnderTest.mounting('c1', op), (err) => err === other);
      assert.equal(calls(), 1);
    }
    assert.deepEqual(engineUnderTest.rooms, []);
  });

  it('a second refusal, or room that cannot be made: the refusal, what followed it, its status', async () => {
    const engineUnderTest = new RoomCountingEngine();
    const twice = failing(new EngineError(DOCKERD, 500), new EngineError(DOCKERD, 500));
    await assert.rejects(engineUnderTest.mounting('c1', twice.op), (err: EngineError) =>
      err.message === `${DOCKERD}; tried again with room for its limit: ${DOCKERD}` && err.statusCode === 500);
    assert.equal(twice.calls(), 2);

    engineUnderTest.roomFails = new Error('container c1 has no root disk size recorded in /x/btrfs/quotas/y');
    const once = failing(new EngineError(PODMAN, 500));
    await assert.rejects(engineUnderTest.mounting('c1', once.op), (err: EngineError) =>
      err.message === `${PODMAN}; tried again with room for its limit: ${engineUnderTest.roomFails!.message}` && err.statusCode === 500);
    assert.equal(once.calls(), 1);
  });
});

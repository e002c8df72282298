/**
 * snapshot_instance against in-memory fakes: image_snapshot -> image_pending_upload ->
 * image_uploading -> none, the capture uploaded into the queued Glance image; on failure the
 * unfinished image is deleted (delete_image_on_error).
 */
import { strict as assert } from 'node:assert';
import { snapshotInstance } from '../../../../src/nova-driver/manager/snapshot.js';
import { TaskState } from '../../../../src/nova-driver/manager/states.js';
import { argsFor, fakeCompute, type FakeCompute } from '../../../helpers/fake-compute.js';

const SNAP = 'snap-1';

function snapshotting(c: FakeCompute): string {
  c.images.glance.set(SNAP, { id: SNAP, status: 'queued' });
  return c.addInstance({ task_state: TaskState.IMAGE_SNAPSHOT_PENDING }).str('uuid');
}

describe('snapshot_instance', () => {
  it('passes through Nova\'s snapshot task states and uploads into the queued image', async () => {
    const c = fakeCompute();
    const uuid = snapshotting(c);
    await snapshotInstance(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { image_id: SNAP }));
    assert.deepEqual(c.store.taskStates(uuid), [TaskState.IMAGE_SNAPSHOT, TaskState.IMAGE_PENDING_UPLOAD, TaskState.IMAGE_UPLOADING, null]);
    assert.deepEqual(c.store.savesOf(uuid).map((s) => s.expected).filter(Boolean),
      [[TaskState.IMAGE_SNAPSHOT_PENDING], [TaskState.IMAGE_SNAPSHOT], [TaskState.IMAGE_PENDING_UPLOAD], [TaskState.IMAGE_UPLOADING]]);
    assert.deepEqual(c.images.uploads.map((u) => [u.imageId, u.parentImageId, u.whole]), [[SNAP, 'img-1', false]]);
    assert.equal(c.images.glance.get(SNAP)?.status, 'active');
    assert.equal(c.store.faults.length, 0);
  });

  it('a failed capture deletes the unfinished image, records a fault and clears the task_state', async () => {
    const c = fakeCompute();
    const uuid = snapshotting(c);
    c.driver.fail('snapshot', new Error('commit failed: no space left'));
    await assert.rejects(snapshotInstance(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { image_id: SNAP })), /no space left/);
    assert.equal(c.images.glance.has(SNAP), false);
    assert.equal(c.store.faults.length, 1);
    assert.equal(c.store.record(uuid).get('task_state'), null);
  });

  it('an instance deleted during the snapshot: the image is deleted, no fault', async () => {
    const c = fakeCompute();
    const uuid = snapshotting(c);
    c.driver.on('snapshot', () => { c.store.record(uuid).set('task_state', TaskState.DELETING); });
    await snapshotInstance(c.deps, c.ctx, argsFor(await c.store.get(c.ctx, uuid), { image_id: SNAP }));
    assert.equal(c.images.glance.has(SNAP), false);
    assert.equal(c.store.faults.length, 0);
    assert.equal(c.store.record(uuid).get('task_state'), TaskState.DELETING);
  });
});

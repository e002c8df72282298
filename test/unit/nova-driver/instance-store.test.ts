/**
 * InstanceStore.save against an in-memory conductor that answers object_action the way Nova's
 * does (nova/conductor/manager.py object_action over nova/objects/instance.py save): the
 * stored row takes the sent changes, the columns and system_metadata come back as updates,
 * and a save expecting another task_state is refused.
 */
import { strict as assert } from 'node:assert';
import { ConductorClient } from '../../../src/nova-driver/conductor.js';
import { InstanceStore } from '../../../src/nova-driver/manager/instance-store.js';
import { adminContext } from '../../../src/nova-driver/context.js';
import { PyError } from '../../../src/messaging/errors.js';
import type { RequestContext, RpcClient, Target } from '../../../src/messaging/types.js';
import { NovaObject, type ObjectPrimitive, type Primitive } from '../../../src/nova-driver/objects/versioned-object.js';
import { captureLogs } from '../../helpers/log-capture.js';

const UUID = '5a1f0d1c-2f7e-4c55-9d7e-3c0c8d3c1a11';
const FLAVORS = ['flavor', 'old_flavor', 'new_flavor'];

function flavor(id: number, memoryMb: number): NovaObject {
  return new NovaObject('Flavor', '1.2', { flavorid: String(id), memory_mb: memoryMb, vcpus: id });
}

class InstanceTable implements RpcClient {
  row: Record<string, Primitive> = {
    id: 7, uuid: UUID, vm_state: 'building', task_state: 'spawning', host: 'h1', updated_at: null,
    system_metadata: { image_base_image_ref: 'img' }, flavor: flavor(1, 512).toPrimitive() as unknown as Primitive, old_flavor: null, new_flavor: null,
  };
  readonly sent: ObjectPrimitive[] = [];

  async call<T>(_t: Target, _ctx: RequestContext, method: string, args: Record<string, unknown>): Promise<T> {
    assert.equal(method, 'object_action');
    const p = args.objinst as ObjectPrimitive;
    this.sent.push(p);
    const expected = (args.kwargs as { expected_task_state?: (string | null)[] }).expected_task_state;
    if (expected && !expected.includes(this.row.task_state as string | null)) {
      throw new PyError({ pyClass: 'UnexpectedTaskStateError', pyModule: 'nova.exception', message: `Unexpected task state: expecting ${JSON.stringify(expected)} but the actual state is ${String(this.row.task_state)}` });
    }
    const data = { ...p['nova_object.data'] };
    const changes = p['nova_object.changes'] ?? [];
    // Instance._save_flavor reads all three flavors; one not sent is lazy-loaded, all three at once
    if (FLAVORS.some((f) => changes.includes(f)) && FLAVORS.some((f) => !(f in data))) for (const f of FLAVORS) data[f] = this.row[f];
    for (const f of changes) this.row[f] = data[f];
    this.row.updated_at = '2026-12-04T10:00:00Z';
    return [{ ...this.row, obj_what_changed: [] }, null] as T;
  }

  async cast(): Promise<void> {}
}

function instance(): NovaObject {
  const cache = new NovaObject('InstanceInfoCache', '1.5', { instance_uuid: UUID, network_info: '[{"id":"p1"}]' });
  return new NovaObject('Instance', '2.7', {
    id: 7, uuid: UUID, vm_state: 'building', task_state: 'spawning', host: 'h1', updated_at: null, display_name: 'vm1',
    flavor: flavor(1, 512), old_flavor: null, new_flavor: null, info_cache: cache, metadata: { role: 'web' }, system_metadata: { image_base_image_ref: 'img' },
  });
}

describe('InstanceStore.save: the changes, not the whole instance', () => {
  const logs = captureLogs();
  const ctx = adminContext();

  it('sends the uuid and the changed fields only, and takes back what the conductor returns', async () => {
    const table = new InstanceTable();
    const store = new InstanceStore(new ConductorClient(table, logs.log), 'h1');
    const inst = instance();
    await store.save(ctx, inst, { vm_state: 'active', task_state: null }, ['spawning']);
    const sent = table.sent[0];
    assert.deepEqual(Object.keys(sent['nova_object.data']).sort(), ['task_state', 'uuid', 'vm_state']);
    assert.deepEqual([...sent['nova_object.changes'] ?? []].sort(), ['task_state', 'vm_state']);
    assert.equal(sent['nova_object.name'], 'Instance');
    assert.equal(sent['nova_object.version'], '2.7');
    assert.equal(table.row.vm_state, 'active');
    // the conductor's answer applied, what it was not sent kept, nothing left to save
    assert.equal(inst.get('updated_at'), '2026-12-04T10:00:00Z');
    assert.equal(inst.get('vm_state'), 'active');
    assert.equal(inst.obj('flavor')?.get('memory_mb'), 512);
    assert.equal(inst.obj('info_cache')?.get('network_info'), '[{"id":"p1"}]');
    assert.deepEqual(inst.get('metadata'), { role: 'web' });
    assert.equal(inst.get('display_name'), 'vm1');
    assert.deepEqual(inst.changes(), []);
  });

  it('a save refused leaves the change pending on the instance, as a whole-instance save did', async () => {
    const table = new InstanceTable();
    table.row.task_state = 'deleting';
    const store = new InstanceStore(new ConductorClient(table, logs.log), 'h1');
    const inst = instance();
    await assert.rejects(store.save(ctx, inst, { vm_state: 'active', task_state: null }, ['spawning']), /Unexpected task state/);
    assert.deepEqual(inst.changes().sort(), ['task_state', 'vm_state']);
    assert.equal(inst.get('updated_at'), null);
    assert.equal(table.row.vm_state, 'building');
  });

  it('a resize\'s new_flavor alone goes with the other two flavors, which Nova stores with it, and is kept', async () => {
    const table = new InstanceTable();
    const store = new InstanceStore(new ConductorClient(table, logs.log), 'h1');
    const inst = instance();
    await store.save(ctx, inst, { new_flavor: flavor(2, 2048) });
    const data = table.sent[0]['nova_object.data'];
    assert.deepEqual(Object.keys(data).sort(), ['flavor', 'new_flavor', 'old_flavor', 'uuid']);
    assert.deepEqual(table.sent[0]['nova_object.changes'], ['new_flavor']);
    assert.equal((table.row.new_flavor as unknown as ObjectPrimitive)['nova_object.data'].memory_mb, 2048);
    assert.equal(inst.obj('new_flavor')?.get('memory_mb'), 2048);
    assert.equal(inst.obj('flavor')?.get('memory_mb'), 512);
  });

  it('the flavor confirmed with old_flavor cleared: both stored, both kept', async () => {
    const table = new InstanceTable();
    const store = new InstanceStore(new ConductorClient(table, logs.log), 'h1');
    const inst = instance();
    inst.fields.old_flavor = flavor(1, 512);
    await store.save(ctx, inst, { flavor: flavor(2, 2048), old_flavor: null });
    assert.equal((table.row.flavor as unknown as ObjectPrimitive)['nova_object.data'].memory_mb, 2048);
    assert.equal(table.row.old_flavor, null);
    assert.equal(inst.obj('flavor')?.get('memory_mb'), 2048);
    assert.equal(inst.get('old_flavor'), null);
  });
});

import { strict as assert } from 'node:assert';
import { withComputeId } from '../../../src/nova-driver/objects/compute-id.js';
import { NovaObject } from '../../../src/nova-driver/objects/versioned-object.js';

describe('compute_id with the node (Instance 2.8, Migration 1.8)', () => {
  const instance = (version: string): NovaObject => NovaObject.create('Instance', version, { uuid: 'u1' });

  it('adds compute_id when an Instance 2.8 gets a node, and clears it with the node', () => {
    assert.deepEqual(withComputeId(instance('2.8'), { host: 'h', node: 'h' }, 12), { host: 'h', node: 'h', compute_id: 12 });
    assert.deepEqual(withComputeId(instance('2.8'), { host: null, node: null }, 12), { host: null, node: null, compute_id: null });
  });

  it('leaves an Instance 2.7 (Zed, 2023.1) without the field its conductor does not know', () => {
    assert.deepEqual(withComputeId(instance('2.7'), { node: 'h' }, 12), { node: 'h' });
  });

  it('touches nothing when the node does not change or compute_id is given', () => {
    assert.deepEqual(withComputeId(instance('2.8'), { vm_state: 'active' }, 12), { vm_state: 'active' });
    assert.deepEqual(withComputeId(instance('2.8'), { node: 'h', compute_id: 3 }, 12), { node: 'h', compute_id: 3 });
  });

  it('adds dest_compute_id when a Migration 1.8 gets its dest_node, not before 1.8', () => {
    const m18 = NovaObject.create('Migration', '1.8', { uuid: 'm' });
    const m17 = NovaObject.create('Migration', '1.7', { uuid: 'm' });
    assert.deepEqual(withComputeId(m18, { dest_node: 'h' }, 5), { dest_node: 'h', dest_compute_id: 5 });
    assert.deepEqual(withComputeId(m17, { dest_node: 'h' }, 5), { dest_node: 'h' });
  });

  it('leaves other objects alone', () => {
    assert.deepEqual(withComputeId(NovaObject.create('Service', '1.22', {}), { node: 'h' }, 5), { node: 'h' });
  });
});

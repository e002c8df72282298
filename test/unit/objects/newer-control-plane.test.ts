/**
 * Objects as a 2025.2 control plane sends them (test/fixtures/nova-2025.2/objects.json, made
 * by generate.py there with nova 32.0.0's own classes from the Zed build capture): Instance
 * 2.8 with compute_id, RequestSpec 1.15 holding ImageMetaProps 1.42 with fields and enum
 * values Zed lacks, Migration 1.8 with dest_compute_id, and an object_action update carrying
 * keys a Zed compute does not know. They are accepted and kept; what this host sends back
 * keeps the received version with only its own changes marked.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { RpcDispatcher } from '../../../src/messaging/dispatcher.js';
import type { RequestContext, RpcClient, Target } from '../../../src/messaging/types.js';
import { ConductorClient } from '../../../src/nova-driver/conductor.js';
import { adminContext } from '../../../src/nova-driver/context.js';
import { checkArgs } from '../../../src/nova-driver/manager/compute-args.js';
import { computeEndpoint } from '../../../src/nova-driver/manager/compute-endpoint.js';
import { VmState } from '../../../src/nova-driver/manager/states.js';
import { ZED_OBJECT_VERSIONS } from '../../../src/nova-driver/objects/manifest.js';
import { NovaObject, decodeValue, encodeValue, type ObjectPrimitive, type Primitive } from '../../../src/nova-driver/objects/versioned-object.js';
import { fakeCompute, instanceObject } from '../../helpers/fake-compute.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { loadTraces } from '../../helpers/traces.js';

interface Fixture {
  versions: Record<string, string>;
  instance: ObjectPrimitive;
  request_spec: ObjectPrimitive;
  migration: ObjectPrimitive;
  instance_save_updates: Record<string, Primitive>;
}

const FIXTURE = JSON.parse(readFileSync(new URL('../../../../test/fixtures/nova-2025.2/objects.json', import.meta.url), 'utf8')) as Fixture;

/** Answers every object_action with `updates` and records what was sent. */
class RecordingConductor implements RpcClient {
  readonly sent: ObjectPrimitive[] = [];
  constructor(private readonly updates: Record<string, Primitive>) {}
  async call<T>(_t: Target, _c: RequestContext, method: string, args: Record<string, unknown>): Promise<T> {
    assert.equal(method, 'object_action');
    this.sent.push(structuredClone(args.objinst as ObjectPrimitive));
    return [this.updates, null] as T;
  }
  async cast(): Promise<void> { throw new Error('no casts expected'); }
}

function versionTuple(v: string): [number, number] {
  const [major, minor] = v.split('.').map(Number);
  return [major, minor];
}

describe('objects from a newer control plane', () => {
  it('the fixture holds 2025.2\'s versions: Instance 2.8, Migration 1.8, ImageMetaProps 1.42', () => {
    assert.deepEqual(FIXTURE.versions, { ImageMetaProps: '1.42', Instance: '2.8', Migration: '1.8', RequestSpec: '1.15' });
    const spec = decodeValue(FIXTURE.request_spec as unknown as Primitive) as NovaObject;
    assert.equal(spec.obj('image')?.obj('properties')?.version, '1.42');
  });

  it('build_and_run_instance with Instance 2.8 and ImageMetaProps 1.42 runs to ACTIVE; the instance stays 2.8', async () => {
    const c = fakeCompute();
    const inst = NovaObject.fromPrimitive(FIXTURE.instance);
    c.store.put(inst);
    const [trace] = loadTraces().filter((t) => t.summary.method === 'build_and_run_instance');
    const { args } = trace.request['oslo.message_decoded'] as { args: Record<string, unknown> };
    const call = { ...args, instance: FIXTURE.instance, request_spec: FIXTURE.request_spec };
    await new RpcDispatcher([computeEndpoint(c.deps, {}, '6.4')])
      .dispatch({ method: 'build_and_run_instance', args: call, namespace: null, version: '6.0', context: { request_id: 'req-new' }, expectsReply: false });
    const record = c.store.record(inst.str('uuid'));
    assert.equal(record.get('vm_state'), VmState.ACTIVE);
    assert.equal(record.version, '2.8');
  });

  it('ImageMetaProps 1.42 decodes with its new fields and igb, and encodes back unchanged', () => {
    const spec = decodeValue(FIXTURE.request_spec as unknown as Primitive) as NovaObject;
    const props = spec.obj('image')?.obj('properties');
    assert.ok(props);
    assert.deepEqual([props.get('hw_vif_model'), props.get('hw_sound_model'), props.get('hw_usb_model'), props.get('hw_firmware_stateless')],
      ['igb', 'virtio', 'qemu-xhci', true]);
    assert.deepEqual(encodeValue(spec), FIXTURE.request_spec);
  });

  it('Migration 1.8 with dest_compute_id passes the resize handlers\' argument checks', () => {
    const instance = instanceObject().toPrimitive();
    assert.equal((FIXTURE.migration['nova_object.data'] as Record<string, Primitive>).dest_compute_id, 1);
    assert.doesNotThrow(() => checkArgs('confirm_resize', { instance, migration: FIXTURE.migration }));
    assert.doesNotThrow(() => checkArgs('revert_resize', { instance, migration: FIXTURE.migration }));
  });

  it('saving an Instance 2.8 sends 2.8 back with only this host\'s change; updates with unknown keys are kept', async () => {
    const updates = { ...FIXTURE.instance_save_updates, a_field_from_2027: 'x' };
    const rpc = new RecordingConductor(updates);
    const conductor = new ConductorClient(rpc, captureLogs().log);
    const inst = NovaObject.fromPrimitive(FIXTURE.instance);
    inst.set('task_state', null);
    await conductor.objectAction(adminContext(), inst, 'save');
    const [first] = rpc.sent;
    assert.deepEqual([first['nova_object.version'], first['nova_object.data'].compute_id, first['nova_object.changes']], ['2.8', 1, ['task_state']]);
    assert.deepEqual([inst.get('compute_id'), inst.get('a_field_from_2027'), inst.changes()], [1, 'x', []]);
    inst.set('vm_state', VmState.STOPPED);
    await conductor.objectAction(adminContext(), inst, 'save');
    const second = rpc.sent[1];
    assert.equal(second['nova_object.data'].a_field_from_2027, 'x');
    assert.deepEqual(second['nova_object.changes'], ['vm_state']);
  });

  it('objects this host makes are readable by 2025.2: same major, a minor no higher than its own', () => {
    for (const [name, theirs] of Object.entries(FIXTURE.versions)) {
      const ours = ZED_OBJECT_VERSIONS[name];
      if (ours === undefined) continue; // RequestSpec, ImageMetaProps: only ever received
      const [om, on] = versionTuple(ours);
      const [tm, tn] = versionTuple(theirs);
      assert.ok(om === tm && on <= tn, `${name} ${ours} vs ${theirs}`);
    }
  });
});

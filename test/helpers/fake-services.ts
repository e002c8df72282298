/**
 * Placement, Neutron ports, the conductor's object saves, the schedulers and Glance as the
 * compute manager uses them, in memory (each a Fake: calls recorded, any method hookable).
 */
import { randomUUID } from 'node:crypto';
import type { PlacementClient } from '../../src/nova-driver/placement.js';
import type { PortManager, PortRequest, InstanceRef } from '../../src/network/ports.js';
import { tapName, type VifModel } from '../../src/network/network-info.js';
import type { ConductorClient } from '../../src/nova-driver/conductor.js';
import type { SchedulerClient } from '../../src/nova-driver/scheduler.js';
import type { ComputeCasts, MoveStep } from '../../src/nova-driver/compute-rpc.js';
import type { GlanceImage, GlanceImageMeta, ImageProvider } from '../../src/nova-driver/manager/deps.js';
import type { FieldValue, NovaObject } from '../../src/nova-driver/objects/versioned-object.js';
import type { RequestContext } from '../../src/messaging/types.js';
import { Fake, type PublicOf } from './fake.js';
import type { FakeInstanceStore } from './fake-instance-store.js';

type Resources = Record<string, number>;

/** Allocations against this host's one provider, by consumer (an instance or a migration). */
export class FakePlacement extends Fake<PlacementClient> implements Pick<PlacementClient, 'deleteAllocations' | 'moveAllocations' | 'providerAllocations' | 'removeProviderFromConsumer'> {
  readonly allocations = new Map<string, Resources>();

  /** The fake knows this host's provider only: the consumer's entry is its share here, which goes. */
  async removeProviderFromConsumer(consumer: string, provider: string): Promise<boolean> {
    await this.enter('removeProviderFromConsumer', consumer, provider);
    return this.allocations.delete(consumer);
  }

  async providerAllocations(uuid: string): Promise<Record<string, { resources: Resources }>> {
    await this.enter('providerAllocations', uuid);
    return Object.fromEntries([...this.allocations].map(([consumer, resources]) => [consumer, { resources }]));
  }

  async moveAllocations(source: string, target: string): Promise<boolean> {
    await this.enter('moveAllocations', source, target);
    const held = this.allocations.get(source);
    if (!held) return false;
    this.allocations.delete(source);
    this.allocations.set(target, held);
    return true;
  }

  async deleteAllocations(consumer: string): Promise<boolean> {
    await this.enter('deleteAllocations', consumer);
    return this.allocations.delete(consumer);
  }
}

/** Neutron ports by instance: created on requested networks, or the user's, bound here. */
export class FakePorts extends Fake<PublicOf<PortManager>> implements PublicOf<PortManager> {
  readonly byInstance = new Map<string, VifModel[]>();
  /** The host each instance's ports are bound to, once a move bound them somewhere (bindHere). */
  readonly boundTo = new Map<string, string>();
  private created = 0;

  /** This Neutron as the host named `host` sees it: bindHere binds there. */
  forHost(host: string): PublicOf<PortManager> {
    return {
      allocate: (i, r, g) => this.allocate(i, r, g),
      networkInfo: (u, p) => this.networkInfo(u, p),
      deallocate: (u, p) => this.deallocate(u, p),
      deallocatePort: (id, p) => this.deallocatePort(id, p),
      bindHere: async (u, order, p) => { this.boundTo.set(u, host); return this.bindHere(u, order, p); },
    };
  }

  async bindHere(instanceUuid: string, order: string[], preserve: Set<string>): Promise<VifModel[]> {
    await this.enter('bindHere', instanceUuid, order, preserve);
    return (this.byInstance.get(instanceUuid) ?? []).map((v) => ({ ...v, preserve_on_delete: preserve.has(v.id) }));
  }

  async allocate(inst: InstanceRef, requests: PortRequest[], securityGroupNames: string[]): Promise<VifModel[]> {
    await this.enter('allocate', inst, requests, securityGroupNames);
    const vifs = requests.map((r) => fakeVif(r.portId ?? `port-${++this.created}`, r.networkId ?? 'net-1', !!r.portId));
    this.byInstance.set(inst.uuid, [...(this.byInstance.get(inst.uuid) ?? []), ...vifs]);
    return vifs;
  }

  async networkInfo(instanceUuid: string, preserve: Set<string>): Promise<VifModel[]> {
    await this.enter('networkInfo', instanceUuid, preserve);
    return (this.byInstance.get(instanceUuid) ?? []).map((v) => ({ ...v, preserve_on_delete: preserve.has(v.id) }));
  }

  async deallocate(instanceUuid: string, preserve: Set<string>): Promise<void> {
    await this.enter('deallocate', instanceUuid, preserve);
    this.byInstance.delete(instanceUuid);
  }

  async deallocatePort(portId: string, preserve: boolean): Promise<void> {
    await this.enter('deallocatePort', portId, preserve);
    for (const [uuid, vifs] of this.byInstance) this.byInstance.set(uuid, vifs.filter((v) => v.id !== portId));
  }
}

/** A VIF as Neutron reports a port not yet wired by its agent (not active). */
export function fakeVif(portId: string, networkId = 'net-1', preserveOnDelete = false): VifModel {
  return {
    id: portId, address: 'fa:16:3e:00:00:01', type: 'bridge', details: {}, devname: tapName(portId),
    network: { id: networkId, bridge: `brq${networkId}`.slice(0, 14), label: networkId, subnets: [], meta: {} },
    ovs_interfaceid: null, qbh_params: null, qbg_params: null, active: false, vnic_type: 'normal', profile: {},
    preserve_on_delete: preserveOnDelete, delegate_create: false, meta: {},
  };
}

/**
 * The conductor's object saves other than the instance's own (migrations, info caches); an
 * info cache saved lands in the instance's record, as it would in the database.
 */
export class FakeConductor extends Fake<ConductorClient> implements Pick<ConductorClient, 'objectAction' | 'classAction'> {
  /** Each object action with the object's fields as they were sent. */
  readonly objectActions: { name: string; objmethod: string; fields: Record<string, FieldValue> }[] = [];

  constructor(private readonly store: FakeInstanceStore) {
    super();
  }

  async objectAction(ctx: RequestContext, obj: NovaObject, objmethod: string, args: FieldValue[] = [],
    kwargs: Record<string, FieldValue> = {}): Promise<FieldValue> {
    await this.enter('objectAction', ctx, obj, objmethod, args, kwargs);
    this.objectActions.push({ name: obj.name, objmethod, fields: { ...obj.fields } });
    const uuid = obj.optStr('instance_uuid');
    if (obj.name === 'InstanceInfoCache' && objmethod === 'save' && uuid && this.store.has(uuid)) {
      this.store.record(uuid).set('info_cache', obj);
    }
    obj.clearChanges();
    if (obj.name === 'ConsoleAuthToken' && objmethod === 'authorize') {
      // as nova/objects/console_auth_token.py: a new uuid is the token, the record gets an id
      const token = randomUUID();
      obj.applyUpdates({ id: this.objectActions.length, token });
      return token;
    }
    return null;
  }

  /** What a remotable classmethod answers, by `<objname>.<objmethod>` (e.g. MigrationList.get_by_filters); a function answers by the call's args. */
  readonly classResults = new Map<string, FieldValue | ((args: FieldValue[]) => FieldValue)>();

  /** A remotable classmethod answers what classResults holds for it, else nothing (what the ones a compute host calls for effect answer). */
  async classAction(ctx: RequestContext, objname: string, objmethod: string, args: FieldValue[] = [],
    kwargs: Record<string, FieldValue> = {}): Promise<FieldValue> {
    await this.enter('classAction', ctx, objname, objmethod, args, kwargs);
    const result = this.classResults.get(`${objname}.${objmethod}`);
    return (typeof result === 'function' ? result(args) : result) ?? null;
  }

  /** The fields of every `objmethod` of objects named `name`, in order. */
  actions(name: string, objmethod = 'save'): Record<string, FieldValue>[] {
    return this.objectActions.filter((a) => a.name === name && a.objmethod === objmethod).map((a) => a.fields);
  }
}

export class FakeScheduler extends Fake<PublicOf<SchedulerClient>> implements PublicOf<SchedulerClient> {
  async updateInstanceInfo(ctx: RequestContext, instances: NovaObject): Promise<void> {
    await this.enter('updateInstanceInfo', ctx, instances);
  }

  async deleteInstanceInfo(ctx: RequestContext, instanceUuid: string): Promise<void> {
    await this.enter('deleteInstanceInfo', ctx, instanceUuid);
  }

  async syncInstanceInfo(ctx: RequestContext, instanceUuids: string[]): Promise<void> {
    await this.enter('syncInstanceInfo', ctx, instanceUuids);
  }
}

/** Casts to other compute hosts, recorded (a test delivers them to the other fake host). */
export class FakeComputeRpc extends Fake<ComputeCasts> implements ComputeCasts {
  readonly casts: { host: string; method: string; args: Record<string, unknown> }[] = [];

  async cast(ctx: RequestContext, host: string, method: MoveStep, args: Record<string, unknown>): Promise<void> {
    await this.enter('cast', ctx, host, method, args);
    this.casts.push({ host, method, args });
  }
}

/** Glance's records; an image made present or uploaded is remembered. */
export class FakeImages extends Fake<ImageProvider> implements ImageProvider {
  readonly glance = new Map<string, GlanceImage>();
  readonly present = new Set<string>();
  readonly uploads: { engineRef: string; imageId: string; parentImageId: string | null; whole: boolean }[] = [];

  async ensureImage(ctx: RequestContext, image: GlanceImageMeta): Promise<string> {
    await this.enter('ensureImage', ctx, image);
    this.present.add(image.id);
    return `engine:${image.id}`;
  }

  async getImage(ctx: RequestContext, imageId: string): Promise<GlanceImage | null> {
    await this.enter('getImage', ctx, imageId);
    return this.glance.get(imageId) ?? null;
  }

  async createImage(ctx: RequestContext, fields: Record<string, unknown>): Promise<string> {
    await this.enter('createImage', ctx, fields);
    const id = typeof fields.id === 'string' ? fields.id : randomUUID();
    if (this.glance.has(id)) throw new Error(`409 Conflict: image ${id} already exists`);
    this.glance.set(id, { id, status: 'queued', ...fields } as unknown as GlanceImage);
    return id;
  }

  async deleteImage(ctx: RequestContext, imageId: string): Promise<void> {
    await this.enter('deleteImage', ctx, imageId);
    this.glance.delete(imageId);
  }

  async uploadSnapshot(ctx: RequestContext, engineRef: string, glanceImageId: string, parentImageId: string | null, whole: boolean): Promise<void> {
    await this.enter('uploadSnapshot', ctx, engineRef, glanceImageId, parentImageId, whole);
    this.uploads.push({ engineRef, imageId: glanceImageId, parentImageId, whole });
    const image = this.glance.get(glanceImageId);
    if (image) image.status = 'active';
  }

}

/**
 * A compute host's ManagerDeps made of in-memory fakes, for running the manager's handlers
 * in unit tests: the fake driver, conductor-backed instance records, Placement, Neutron
 * ports, schedulers and Glance; the real InstanceEvents, VirtApi and KeyedLock.
 */
import { randomUUID } from 'node:crypto';
import { InstanceEvents, virtApi } from '../../src/nova-driver/manager/instance-events.js';
import { KeyedLock } from '../../src/common/keyed-lock.js';
import type { ManagerDeps } from '../../src/nova-driver/manager/deps.js';
import type { InstanceStore } from '../../src/nova-driver/manager/instance-store.js';
import { PowerState, VmState } from '../../src/nova-driver/manager/states.js';
import { NovaObject, type FieldValue } from '../../src/nova-driver/objects/versioned-object.js';
import type { VifModel } from '../../src/network/network-info.js';
import { adminContext } from '../../src/nova-driver/context.js';
import type { RequestContext } from '../../src/messaging/types.js';
import { InstanceUsageLedger, usageOf, type Usage } from '../../src/nova-driver/instance-usage.js';
import { captureLogs, type CapturedLogs } from './log-capture.js';
import { FakeDriver, type FakeInstance } from './fake-driver.js';
import { FakeInstanceStore } from './fake-instance-store.js';
import { FakeComputeRpc, FakeConductor, FakeImages, FakePlacement, FakePorts, FakeScheduler } from './fake-services.js';

export const HOST = 'compute1';
export const PROVIDER = 'f0000000-0000-4000-8000-000000000001';

export interface FakeComputeOptions {
  /** The host has [neutron] credentials (deps.ports); default true. */
  neutron?: boolean;
  /** Neutron reports network-vif-plugged once a VIF is plugged; default true. */
  neutronReportsPlugs?: boolean;
  /** vif_plugging_timeout in seconds; default 1. */
  vifPlugTimeout?: number;
  /** vif_plugging_is_fatal; default true. */
  vifPlugFatal?: boolean;
  offloadShelvedAtOnce?: boolean;
  /** [serial_console] enabled (base_url ws://127.0.0.1:6083/, token_ttl 600); default false. */
  serialConsole?: boolean;
  /** This host's name; default HOST. */
  host?: string;
  /** Another host of the same cloud: its instance records, Placement, Neutron, Glance and schedulers are this one's too. */
  cloudOf?: FakeCompute;
}

export interface FakeCompute {
  deps: ManagerDeps;
  ctx: RequestContext;
  driver: FakeDriver;
  store: FakeInstanceStore;
  placement: FakePlacement;
  ports: FakePorts;
  conductor: FakeConductor;
  scheduler: FakeScheduler;
  images: FakeImages;
  /** What this host cast to other hosts. */
  computeRpc: FakeComputeRpc;
  events: InstanceEvents;
  logs: CapturedLogs;
  /** The host's usage as the handlers recorded it (the real ledger of instance-usage.ts, nothing reserved). */
  hostUsage(): Usage;
  /**
   * An instance Nova has on this host (record stored, allocation held) and, unless `onHost`
   * is null, that the driver runs. Returns it as nova-api would send it.
   */
  addInstance(fields?: Record<string, FieldValue>, onHost?: Partial<FakeInstance> | null): NovaObject;
}

export function fakeCompute(options: FakeComputeOptions = {}): FakeCompute {
  const logs = captureLogs('debug');
  const events = new InstanceEvents();
  const host = options.host ?? HOST;
  const cloud = options.cloudOf;
  const store = cloud?.store ?? new FakeInstanceStore(host);
  const reportPlugs = options.neutronReportsPlugs ?? true;
  const driver = new FakeDriver({
    virtApi: virtApi(events, options.vifPlugTimeout ?? 1, options.vifPlugFatal ?? true, logs.log),
    plugged: (uuid, vifs) => {
      // Neutron's agent wires the port after the plug; its event comes back through nova-api.
      if (reportPlugs) setImmediate(() => { for (const v of vifs) events.deliver(uuid, { name: 'network-vif-plugged', tag: v.id, status: 'completed' }); });
    },
  });
  const placement = cloud?.placement ?? new FakePlacement();
  const ports = cloud?.ports ?? new FakePorts();
  const conductor = cloud?.conductor ?? new FakeConductor(store);
  const scheduler = cloud?.scheduler ?? new FakeScheduler();
  const images = cloud?.images ?? new FakeImages();
  const computeRpc = new FakeComputeRpc();
  const ledger = new InstanceUsageLedger();
  // The fakes offer the public methods the handlers use; the classes also carry private state.
  const deps: ManagerDeps = {
    host,
    nodename: host,
    hostIp: '192.0.2.10',
    conductor: conductor as unknown as ManagerDeps['conductor'],
    providerUuid: () => PROVIDER,
    computeNodeId: () => 7,
    instances: (cloud ? store.forHost(host) : store) as unknown as InstanceStore,
    driver,
    images,
    placement: placement as unknown as ManagerDeps['placement'],
    ports: (options.neutron ?? true) ? ports.forHost(host) as unknown as NonNullable<ManagerDeps['ports']> : null,
    events,
    scheduler: scheduler as unknown as ManagerDeps['scheduler'],
    computeRpc,
    usage: {
      track: async (_ctx, inst) => { ledger.track(inst.str('uuid'), usageOf(inst)); },
      untrack: async (_ctx, uuid) => { ledger.untrack(uuid); },
    },
    locks: new KeyedLock(),
    log: logs.log,
    shutdownTimeout: 60,
    offloadShelvedAtOnce: options.offloadShelvedAtOnce ?? false,
    limitsPolicy: { pidsPerVcpu: 1024, enforceRootDisk: true },
    serialConsole: options.serialConsole ? { baseUrl: 'ws://127.0.0.1:6083/', tokenTtl: 600 } : null,
  };
  return {
    deps, ctx: adminContext({ request_id: 'req-test' }), driver, store, placement, ports, conductor, scheduler, images, computeRpc, events, logs,
    hostUsage: () => ledger.usage({ memoryMb: 0, diskGb: 0 }),
    addInstance(fields = {}, onHost = {}) {
      const inst = instanceObject(fields);
      store.put(inst);
      placement.allocations.set(inst.str('uuid'), { VCPU: 1, MEMORY_MB: 128 });
      if (onHost) driver.add(inst.str('uuid'), onHost);
      return inst;
    },
  };
}

export function flavorObject(fields: Record<string, FieldValue> = {}): NovaObject {
  return new NovaObject('Flavor', '1.2', {
    id: 1, name: 'm1.small', flavorid: 'f1', memory_mb: 128, vcpus: 1, root_gb: 1, ephemeral_gb: 0, swap: 0, extra_specs: {}, ...fields,
  });
}

/** An Instance object as nova-api sends it to this host (active, running, no task). */
export function instanceObject(fields: Record<string, FieldValue> = {}): NovaObject {
  const uuid = typeof fields.uuid === 'string' ? fields.uuid : randomUUID();
  return new NovaObject('Instance', '2.7', {
    uuid, host: HOST, node: HOST, vm_state: VmState.ACTIVE, task_state: null, power_state: PowerState.RUNNING,
    project_id: 'p1', user_id: 'u1', hostname: 'vm1', image_ref: 'img-1', availability_zone: 'nova', vcpus: 1, memory_mb: 128,
    flavor: flavorObject(), metadata: {}, system_metadata: {},
    info_cache: new NovaObject('InstanceInfoCache', '1.5', { instance_uuid: uuid, network_info: '[]' }),
    ...fields,
  });
}

/** The instance's info cache holding `vifs`. */
export function infoCache(uuid: string, vifs: VifModel[]): NovaObject {
  return new NovaObject('InstanceInfoCache', '1.5', { instance_uuid: uuid, network_info: JSON.stringify(vifs) });
}

/** A build's requested_networks: one request per network id (`none`: no network). */
export function networkRequestList(...networkIds: string[]): Record<string, unknown> {
  return {
    'nova_object.name': 'NetworkRequestList', 'nova_object.namespace': 'nova', 'nova_object.version': '1.1',
    'nova_object.data': {
      objects: networkIds.map((id) => ({
        'nova_object.name': 'NetworkRequest', 'nova_object.namespace': 'nova', 'nova_object.version': '1.3',
        'nova_object.data': { network_id: id, port_id: null },
      })),
    },
  };
}

/** A cast's arguments: the instance as a primitive, plus the rest. */
export function argsFor(inst: NovaObject, rest: Record<string, unknown> = {}): Record<string, unknown> {
  return { instance: inst.toPrimitive(), ...rest };
}

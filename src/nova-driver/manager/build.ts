/**
 * build_and_run_instance (nova/compute/manager.py _do_build_and_run_instance and
 * _build_and_run_instance): the states nova-api and the conductor see in an ordinary build,
 * BUILDING on this host, NETWORKING when there are ports to make, SPAWNING, ACTIVE, each save
 * expecting the one before; fewer saves than nova-compute's (no BLOCK_DEVICE_MAPPING step, and
 * without networks the first save is already SPAWNING). The spawn is the driver's.
 * A failure destroys what the spawn made and releases the ports (best-effort), records a
 * fault, puts the instance in ERROR and gives its Placement allocation back.
 */
import { BuildAbortException, InstanceNotFound, UnexpectedDeletingTaskStateError, NovaError } from '../errors.js';
import { NovaObject, novaDatetime } from '../objects/versioned-object.js';
import { objectVersion } from '../objects/manifest.js';
import type { RequestContext } from '../../messaging/types.js';
import type { GlanceImageMeta, ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { imagePropertiesOf, instanceSpec } from './instance-spec.js';
import type { InstanceSpec } from '../instance-driver.js';
import { PowerState, TaskState, VmState } from './states.js';
import type { Logger } from '../../common/log.js';
import type { VifModel } from '../../network/network-info.js';
import type { PortRequest } from '../../network/ports.js';
import { imageAccess, portRequests, releasePorts, saveInfoCache } from './networking.js';
import { checkArgs } from './compute-args.js';

const EVENT = 'compute__do_build_and_run_instance';

function deletedMeanwhile(err: unknown): boolean {
  return err instanceof InstanceNotFound || err instanceof UnexpectedDeletingTaskStateError;
}

export async function buildAndRunInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const received = performance.now();
  const inst = instanceFromArgs(args);
  await instanceAction(deps, ctx, inst, { event: EVENT, recordFault: false, revertTaskState: false }, async (log) => {
    const uuid = inst.str('uuid');
    let parsed: BuildArgs;
    try {
      parsed = buildArgs(deps, inst, args);
    } catch (err) {
      throw await failBuild(deps, ctx, inst, log, [], new Set(), err);
    }
    const { image, spec, requests, userPorts, securityGroups } = parsed;
    // The driver prepares the instance (image, workload and its network namespace made) while the conductor
    // records the build's first steps and Neutron makes the ports: their round trips overlap
    // instead of adding up. Nothing of the workload runs before its network is plugged.
    const network = deferred<VifModel[]>();
    const spawned = deps.driver.spawn({
      instance: spec,
      image,
      images: imageAccess(deps, ctx),
      networkInfo: network.promise,
      waitForVifs: true,
    });
    spawned.catch(() => undefined); // awaited below; never an unhandled rejection
    let vifs: VifModel[] = []; // what the spawn plugs: its host devices go with a failed build
    try {
      // The resource claim rides on the first save: the compute, not the conductor, sets
      // host/node, and every later action and Neutron event is routed by them. With no network
      // to make it is already the spawn's: one conductor round trip less beside the spawn.
      const networked = requests.length > 0;
      await deps.instances.save(ctx, inst, {
        vm_state: VmState.BUILDING, task_state: networked ? null : TaskState.SPAWNING, host: deps.host, node: deps.nodename, launched_on: deps.host,
      }, [TaskState.SCHEDULING, null]);
      // the instance uses this host from here on (Nova's instance_claim); not awaited: the build goes on
      void settle(log, 'record its usage', deps.usage.track(ctx, inst));
      vifs = await allocateNetworks(deps, ctx, inst, requests, securityGroups);
      network.resolve(vifs);
      if (networked) await deps.instances.save(ctx, inst, { task_state: TaskState.SPAWNING }, [TaskState.NETWORKING]);
      try {
        await spawned;
      } catch (err) {
        throw asBuildAbort(uuid, err);
      }
      await deps.instances.save(ctx, inst, {
        vm_state: VmState.ACTIVE, task_state: null, power_state: PowerState.RUNNING, launched_at: novaDatetime(),
      }, [TaskState.SPAWNING]);
    } catch (err) {
      network.reject(err);
      await Promise.allSettled([spawned]);
      if (deletedMeanwhile(err)) {
        await cleanUp(deps, ctx, uuid, vifs, userPorts, log);
        await settle(log, 'release its usage', deps.usage.untrack(ctx, uuid));
        log.info('instance deleted during its build');
        return;
      }
      throw await failBuild(deps, ctx, inst, log, vifs, userPorts, err);
    }
    // From the build cast's arrival to the instance saved ACTIVE (bench/boot.ts reads this).
    log.info({ build_ms: Math.round((performance.now() - received) * 10) / 10 }, 'instance built');
    await settle(log, 'tell the schedulers', deps.scheduler.updateInstanceInfo(ctx, instanceList(inst)));
    await settle(log, 'record its usage', deps.usage.track(ctx, inst));
  });
}

interface BuildArgs {
  image: GlanceImageMeta;
  spec: InstanceSpec;
  requests: PortRequest[];
  userPorts: Set<string>;
  securityGroups: string[];
}

/** What the build reads of its arguments; a bad value, or networks this host cannot give, fail the build. */
function buildArgs(deps: ManagerDeps, inst: NovaObject, args: Record<string, unknown>): BuildArgs {
  checkArgs('build_and_run_instance', args);
  const uuid = inst.str('uuid');
  const image = args.image as GlanceImageMeta;
  // e.g. an os_command_line with an unterminated quote: the build's failure, with a fault
  const spec = instanceSpec(inst, imagePropertiesOf(image), deps.limitsPolicy);
  const requests = portRequests(args.requested_networks);
  if (requests.length > 0 && !deps.ports) {
    throw new BuildAbortException({ instance_uuid: uuid, reason: 'networks were requested but this host has no [neutron] credentials; boot with --nic none' });
  }
  const userPorts = new Set(requests.map((r) => r.portId).filter((p): p is string => !!p));
  return { image, spec, requests, userPorts, securityGroups: (args.security_groups ?? []) as string[] };
}

/** Ports made or taken and bound here, the info cache saved; none when the build asked for none. */
async function allocateNetworks(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, requests: PortRequest[],
  securityGroups: string[]): Promise<VifModel[]> {
  if (requests.length === 0 || !deps.ports) return [];
  const uuid = inst.str('uuid');
  await deps.instances.save(ctx, inst, { task_state: TaskState.NETWORKING }, [null]);
  let vifs: VifModel[];
  try {
    vifs = await deps.ports.allocate({
      uuid, projectId: inst.str('project_id'), availabilityZone: inst.optStr('availability_zone') ?? 'nova', hostname: inst.optStr('hostname') ?? uuid,
    }, requests, securityGroups);
  } catch (err) {
    throw asBuildAbort(uuid, err);
  }
  await saveInfoCache(deps.conductor, ctx, uuid, vifs);
  return vifs;
}

function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => undefined); // a rejection nobody awaits any more is not unhandled
  return { promise, resolve, reject };
}

function asBuildAbort(uuid: string, err: unknown): NovaError {
  if (err instanceof NovaError) return err.name === 'BuildAbortException' ? err : new BuildAbortException({ instance_uuid: uuid, reason: err.message });
  return new BuildAbortException({ instance_uuid: uuid, reason: conciseReason(err) });
}

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * The message of an error, without wrappers that only repeat what their cause says. The fault
 * a user sees is cut at 255 characters, and an importer error wraps a cause that names the
 * image again ("Import of image X failed (download): Image X holds no valid container image
 * archive: <reason>"): after "Build of instance <uuid> aborted: " the reason itself was cut
 * off. A wrapper whose message is "<prefix><cause's message>" is dropped when every id in
 * its prefix is named by the cause; a prefix that adds something else (an engine error during
 * the load: the cause does not name the image) is kept.
 */
export function conciseReason(err: unknown): string {
  let e = err as { message?: unknown; cause?: unknown } | null;
  for (;;) {
    const cause = e?.cause;
    if (!(cause instanceof Error) || typeof e?.message !== 'string' || !e.message.endsWith(cause.message)) break;
    const ids = e.message.slice(0, e.message.length - cause.message.length).match(UUID_RE) ?? [];
    if (ids.length === 0 || !ids.every((id) => cause.message.includes(id))) break;
    e = cause;
  }
  return typeof e?.message === 'string' && e.message ? e.message : String(err);
}

/** Whatever the build made goes, best-effort: the driver's remains, then the ports. */
async function cleanUp(deps: ManagerDeps, ctx: RequestContext, uuid: string, vifs: VifModel[], userPorts: Set<string>, log: Logger): Promise<void> {
  await settle(log, 'destroy what the spawn made', deps.driver.destroy(uuid, vifs));
  await releasePorts(deps, ctx, uuid, userPorts, log);
}

/** _build_and_run_instance's failure path: cleaned up, fault recorded, ERROR, allocation given back. */
async function failBuild(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, log: Logger, vifs: VifModel[], userPorts: Set<string>,
  err: unknown): Promise<unknown> {
  const uuid = inst.str('uuid');
  await cleanUp(deps, ctx, uuid, vifs, userPorts, log);
  await settle(log, 'record the fault', deps.instances.addFault(ctx, uuid, err));
  await settle(log, 'set ERROR', deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, task_state: null, host: null, node: null }));
  await settle(log, 'release the allocation', deps.placement.deleteAllocations(uuid));
  await settle(log, 'release its usage', deps.usage.untrack(ctx, uuid));
  return err;
}

/** update_instance_info carries an InstanceList of the one instance. */
export function instanceList(inst: NovaObject): NovaObject {
  return new NovaObject('InstanceList', objectVersion('InstanceList'), { objects: [inst] });
}

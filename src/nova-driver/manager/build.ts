/**
 * build_and_run_instance (nova/compute/manager.py _do_build_and_run_instance and
 * _build_and_run_instance): the same saves, in the same order, with the same expected task
 * states, so nova-api and the conductor see an ordinary build; the spawn is a container.
 * A failure leaves no container behind, records a fault, puts the instance in ERROR and
 * gives its Placement allocation back.
 */
import { BuildAbortException, InstanceNotFound, UnexpectedDeletingTaskStateError, NovaError } from '../errors.js';
import { NovaObject, novaDatetime } from '../objects/versioned-object.js';
import { objectVersion } from '../objects/manifest.js';
import type { RequestContext } from '../../messaging/types.js';
import type { GlanceImageMeta, ManagerDeps } from './deps.js';
import { instanceAction, instanceFromArgs, settle } from './instance-action.js';
import { containerName, containerSpec } from './container-spec.js';
import { instanceFiles } from './instance-files.js';
import { PowerState, TaskState, VmState } from './states.js';
import type { Logger } from '../../common/log.js';
import type { VifModel } from '../../network/network-info.js';
import { plugAll, portRequests, saveInfoCache, teardown } from './networking.js';

const EVENT = 'compute__do_build_and_run_instance';

function deletedMeanwhile(err: unknown): boolean {
  return err instanceof InstanceNotFound || err instanceof UnexpectedDeletingTaskStateError;
}

export async function buildAndRunInstance(deps: ManagerDeps, ctx: RequestContext, args: Record<string, unknown>): Promise<void> {
  const received = performance.now();
  const inst = instanceFromArgs(args);
  const image = args.image as GlanceImageMeta;
  await instanceAction(deps, ctx, inst, { event: EVENT, recordFault: false, revertTaskState: false }, async (log) => {
    // The container is made while the conductor records the build's first steps: the
    // engine's create+start and the database round trips overlap instead of adding up.
    const container = createAndStart(deps, ctx, inst, image, log);
    container.catch(() => undefined); // handled below; never an unhandled rejection
    try {
      // The resource claim rides on the first save: the compute, not the conductor, sets
      // host/node, and every later action and Neutron event is routed by them.
      await deps.instances.save(ctx, inst, {
        vm_state: VmState.BUILDING, task_state: null, host: deps.host, node: deps.nodename, launched_on: deps.host,
      }, [TaskState.SCHEDULING, null]);
    } catch (err) {
      await Promise.allSettled([container]);
      await settle(log, 'remove the container', deps.engine.removeContainer(containerName(inst.str('uuid'))));
      if (deletedMeanwhile(err)) { log.info('instance deleted before its build started'); return; }
      throw err;
    }
    try {
      await spawn(deps, ctx, inst, container, args, log);
    } catch (err) {
      await Promise.allSettled([container]);
      const userPorts = new Set(portRequests(args.requested_networks).map((r) => r.portId).filter((p): p is string => !!p));
      await cleanUpFailedBuild(deps, ctx, inst, err, log, userPorts);
      throw err;
    }
    // From the build cast's arrival to the instance saved ACTIVE (bench/boot.ts reads this).
    log.info({ build_ms: Math.round((performance.now() - received) * 10) / 10 }, 'instance built');
    await settle(log, 'tell the schedulers', deps.scheduler.updateInstanceInfo(ctx, instanceList(inst)));
    await settle(log, 'update resources', deps.updateResources(ctx));
  });
}

async function spawn(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, container: Promise<string>,
  args: Record<string, unknown>, log: Logger): Promise<void> {
  const uuid = inst.str('uuid');
  const requests = portRequests(args.requested_networks);
  let vifs: VifModel[] = [];
  if (requests.length > 0) {
    if (!deps.network) {
      throw new BuildAbortException({ instance_uuid: uuid, reason: 'networks were requested but this host has no [neutron] credentials; boot with --nic none' });
    }
    await deps.instances.save(ctx, inst, { task_state: TaskState.NETWORKING }, [null]);
    try {
      vifs = await deps.network.ports.allocate({
        uuid, projectId: inst.str('project_id'), availabilityZone: inst.optStr('availability_zone') ?? 'nova', hostname: inst.optStr('hostname') ?? uuid,
      }, requests, ((args.security_groups ?? []) as string[]));
    } catch (err) {
      throw asBuildAbort(uuid, err);
    }
    await saveInfoCache(deps.conductor, ctx, uuid, vifs);
    await deps.instances.save(ctx, inst, { task_state: TaskState.SPAWNING }, [TaskState.NETWORKING]);
  } else {
    // No networks to allocate and no block devices to map: straight to spawning.
    await deps.instances.save(ctx, inst, { task_state: TaskState.SPAWNING }, [null]);
  }
  let id: string;
  try {
    id = await container;
    if (vifs.length > 0 && deps.network) {
      const started = await deps.engine.inspectContainer(id);
      if (!started?.pid) throw new Error('the container stopped before its networks could be plugged');
      await plugAll(deps.network, deps.engine, { instanceUuid: uuid, containerId: id, pid: started.pid }, vifs, true, log);
    }
  } catch (err) {
    throw asBuildAbort(uuid, err);
  }
  await deps.instances.save(ctx, inst, {
    vm_state: VmState.ACTIVE, task_state: null, power_state: PowerState.RUNNING, launched_at: novaDatetime(),
  }, [TaskState.SPAWNING]);
}

/**
 * The spawn itself, shared by build, rebuild and unshelve: the image made present in the
 * engine, then a fresh container for the instance created, given its files and started.
 */
export async function createAndStart(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, image: GlanceImageMeta,
  log: Logger, flavor?: NovaObject | null): Promise<string> {
  const ref = await deps.images.ensureImage(ctx, image);
  const spec = containerSpec({
    instance: inst, host: deps.host, imageRef: ref, glanceImageId: image.id, // Nova's build dict nests the properties; a Glance v2 record has them at the top level.
    imageProperties: image.properties ?? image, flavor,
  });
  await deps.engine.removeContainer(spec.name); // the remains of an interrupted earlier attempt
  const id = await deps.engine.createContainer(spec);
  await deps.engine.copyFiles(id, instanceFiles(inst));
  await deps.engine.startContainer(id);
  log.info({ container: id, image: image.id }, 'container started');
  return id;
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

async function cleanUpFailedBuild(deps: ManagerDeps, ctx: RequestContext, inst: NovaObject, err: unknown, log: Logger,
  userPorts: Set<string>): Promise<void> {
  const uuid = inst.str('uuid');
  await settle(log, 'remove the container', deps.engine.removeContainer(containerName(uuid)));
  if (deps.network) await settle(log, 'release the ports', teardown(deps.network, deps.conductor, ctx, uuid, userPorts));
  if (deletedMeanwhile(err)) return; // the delete path finishes the job
  await settle(log, 'record the fault', deps.instances.addFault(ctx, uuid, err));
  await settle(log, 'set ERROR', deps.instances.save(ctx, inst, { vm_state: VmState.ERROR, task_state: null, host: null, node: null }));
  await settle(log, 'release the allocation', deps.placement.deleteAllocations(uuid));
}

/** update_instance_info carries an InstanceList of the one instance. */
export function instanceList(inst: NovaObject): NovaObject {
  return new NovaObject('InstanceList', objectVersion('InstanceList'), { objects: [inst] });
}

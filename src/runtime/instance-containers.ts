/**
 * How an instance is made of containers: the workload `nova-<uuid>` and, on an engine whose
 * instances need one (src/runtime/network-homes.ts), a network sandbox `nova-<uuid>-net` that
 * holds the instance's network namespace, host name, /etc/hosts and resolv.conf for its whole
 * life and that the workload joins. Both are labelled with the instance and host, so they are
 * always found again by ids, never by names alone.
 *
 * Metadata -> environment: every metadata key that is a valid environment variable name
 * (letters, digits and `_`, not starting with a digit) becomes a variable with the metadata
 * value; other keys are skipped. Values are never logged.
 */
import type { InstanceSpec } from '../nova-driver/instance-driver.js';
import { PowerState } from '../nova-driver/instance-driver.js';
import type { ContainerEngine, ContainerSpec, ContainerStatus } from './types.js';

export const LABEL_INSTANCE = 'org.openstack.nova.instance-uuid';
export const LABEL_HOST = 'org.openstack.nova.host';
export const LABEL_IMAGE = 'org.openstack.glance.image-id';
/** `sandbox` on an instance's network sandbox; absent on its workload. */
export const LABEL_ROLE = 'org.openstack.nova.role';
export const ROLE_SANDBOX = 'sandbox';

export function workloadName(instanceUuid: string): string {
  return `nova-${instanceUuid}`;
}

export function sandboxName(instanceUuid: string): string {
  return `nova-${instanceUuid}-net`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function environmentFrom(metadata: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (ENV_NAME.test(k) && typeof v === 'string') env[k] = v;
  return env;
}

/** The sandbox's pause process alone, with room for an `exec` into it. */
const SANDBOX_PIDS = 8;

/** The sandbox: the instance's host name, small limits, the sandbox image's pause process. */
export function sandboxSpec(instanceUuid: string, hostname: string, host: string, sandboxImage: string): ContainerSpec {
  return {
    name: sandboxName(instanceUuid),
    image: sandboxImage,
    hostname,
    labels: { [LABEL_INSTANCE]: instanceUuid, [LABEL_HOST]: host, [LABEL_ROLE]: ROLE_SANDBOX },
    limits: { memoryMb: 16, pids: SANDBOX_PIDS },
    init: false, // its pause process is an init itself
  };
}

/**
 * The workload: the flavor's limits, in its network home's namespace
 * (src/runtime/network-homes.ts); with a TTY and open stdin for its serial console where the
 * host gives instances one.
 */
export function workloadSpec(instance: InstanceSpec, host: string, imageRef: string, glanceImageId: string,
  network: Pick<ContainerSpec, 'joinNetworkOf' | 'hostname'>, console = false): ContainerSpec {
  return {
    ...(console ? { console } : {}),
    ...network,
    name: workloadName(instance.uuid),
    image: imageRef,
    labels: { [LABEL_INSTANCE]: instance.uuid, [LABEL_HOST]: host, [LABEL_IMAGE]: glanceImageId },
    env: environmentFrom(instance.metadata),
    ...(instance.command ? { command: instance.command } : {}),
    limits: instance.limits,
    files: instance.files,
  };
}

/** What a workload's state means as a Nova power state (a frozen one is PAUSED). */
export function powerStateOf(container: Pick<ContainerStatus, 'state'> | null): PowerState {
  if (!container) return PowerState.NOSTATE;
  switch (container.state) {
    case 'running':
    case 'restarting':
      return PowerState.RUNNING;
    case 'paused':
      return PowerState.PAUSED;
    case 'dead':
      return PowerState.CRASHED;
    default:
      return PowerState.SHUTDOWN;
  }
}

/** Whether any workload on the engine, of whichever compute host, was made from the Glance image. */
export async function imageInUse(engine: ContainerEngine, glanceImageId: string): Promise<boolean> {
  return (await engine.listContainers({ [LABEL_IMAGE]: glanceImageId })).length > 0;
}

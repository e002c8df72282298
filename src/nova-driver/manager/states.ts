/**
 * Nova's instance states (nova/compute/vm_states.py, task_states.py, power_state.py) and the
 * state machine of each power action this host performs: which task_state nova-api set
 * before casting, and what the compute saves when done (nova/compute/manager.py).
 */
import type { ContainerStatus } from '../../runtime/types.js';

export const VmState = {
  ACTIVE: 'active', BUILDING: 'building', PAUSED: 'paused', SUSPENDED: 'suspended', STOPPED: 'stopped',
  RESCUED: 'rescued', RESIZED: 'resized', SOFT_DELETED: 'soft-delete', DELETED: 'deleted', ERROR: 'error',
  SHELVED: 'shelved', SHELVED_OFFLOADED: 'shelved_offloaded',
} as const;
export type VmState = (typeof VmState)[keyof typeof VmState];

export const TaskState = {
  SCHEDULING: 'scheduling', BLOCK_DEVICE_MAPPING: 'block_device_mapping', NETWORKING: 'networking', SPAWNING: 'spawning',
  IMAGE_SNAPSHOT: 'image_snapshot', IMAGE_SNAPSHOT_PENDING: 'image_snapshot_pending', IMAGE_PENDING_UPLOAD: 'image_pending_upload',
  IMAGE_UPLOADING: 'image_uploading', IMAGE_BACKUP: 'image_backup',
  REBOOTING: 'rebooting', REBOOT_PENDING: 'reboot_pending', REBOOT_STARTED: 'reboot_started',
  REBOOTING_HARD: 'rebooting_hard', REBOOT_PENDING_HARD: 'reboot_pending_hard', REBOOT_STARTED_HARD: 'reboot_started_hard',
  PAUSING: 'pausing', UNPAUSING: 'unpausing', SUSPENDING: 'suspending', RESUMING: 'resuming',
  POWERING_OFF: 'powering-off', POWERING_ON: 'powering-on',
  REBUILDING: 'rebuilding', REBUILD_BLOCK_DEVICE_MAPPING: 'rebuild_block_device_mapping', REBUILD_SPAWNING: 'rebuild_spawning',
  RESIZE_PREP: 'resize_prep', RESIZE_MIGRATING: 'resize_migrating', RESIZE_MIGRATED: 'resize_migrated',
  RESIZE_FINISH: 'resize_finish', RESIZE_REVERTING: 'resize_reverting', RESIZE_CONFIRMING: 'resize_confirming',
  SHELVING: 'shelving', SHELVING_IMAGE_PENDING_UPLOAD: 'shelving_image_pending_upload',
  SHELVING_IMAGE_UPLOADING: 'shelving_image_uploading', SHELVING_OFFLOADING: 'shelving_offloading', UNSHELVING: 'unshelving',
  DELETING: 'deleting',
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];

/** nova/objects/fields.py PowerState as integers on the wire. */
export const PowerState = { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4, CRASHED: 6, SUSPENDED: 7 } as const;
export type PowerState = (typeof PowerState)[keyof typeof PowerState];

/**
 * What a container's state means as a Nova power state. A paused container is PAUSED, or
 * SUSPENDED when Nova suspended it: on this host suspend freezes the container's processes
 * (cgroup freezer) with their memory kept, since checkpointing to disk is not available.
 */
export function powerStateOf(container: ContainerStatus | null, vmState?: string | null): PowerState {
  if (!container) return PowerState.NOSTATE;
  switch (container.state) {
    case 'running':
    case 'restarting':
      return PowerState.RUNNING;
    case 'paused':
      return vmState === VmState.SUSPENDED ? PowerState.SUSPENDED : PowerState.PAUSED;
    case 'dead':
      return PowerState.CRASHED;
    default:
      return PowerState.SHUTDOWN;
  }
}

/** One power action: the task_state nova-api set, and the vm/power state the compute ends with. */
export interface PowerTransition {
  expectedTaskState: (TaskState | null)[];
  finalVmState: VmState;
  finalPowerState: PowerState;
}

export const POWER_TRANSITIONS = {
  stop: { expectedTaskState: [TaskState.POWERING_OFF], finalVmState: VmState.STOPPED, finalPowerState: PowerState.SHUTDOWN },
  start: { expectedTaskState: [TaskState.POWERING_ON], finalVmState: VmState.ACTIVE, finalPowerState: PowerState.RUNNING },
  pause: { expectedTaskState: [TaskState.PAUSING], finalVmState: VmState.PAUSED, finalPowerState: PowerState.PAUSED },
  unpause: { expectedTaskState: [TaskState.UNPAUSING], finalVmState: VmState.ACTIVE, finalPowerState: PowerState.RUNNING },
  suspend: { expectedTaskState: [TaskState.SUSPENDING], finalVmState: VmState.SUSPENDED, finalPowerState: PowerState.SUSPENDED },
  resume: { expectedTaskState: [TaskState.RESUMING], finalVmState: VmState.ACTIVE, finalPowerState: PowerState.RUNNING },
} as const satisfies Record<string, PowerTransition>;

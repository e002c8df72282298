/**
 * Nova's instance states (nova/compute/vm_states.py, task_states.py, power_state.py) and the
 * state machine of each power action this host performs: which task_state nova-api set
 * before casting, and what the compute saves when done (nova/compute/manager.py).
 */
import { PowerState, type InstanceInfo } from '../instance-driver.js';

export { PowerState };

export const VmState = {
  ACTIVE: 'active', BUILDING: 'building', PAUSED: 'paused', SUSPENDED: 'suspended', STOPPED: 'stopped',
  RESCUED: 'rescued', RESIZED: 'resized', SOFT_DELETED: 'soft-delete', DELETED: 'deleted', ERROR: 'error',
  SHELVED: 'shelved', SHELVED_OFFLOADED: 'shelved_offloaded',
} as const;
export type VmState = (typeof VmState)[keyof typeof VmState];

/** The states an evacuation may ask the instance to end in (rebuild_instance's target_state, compute RPC 6.2). */
export const ALLOW_TARGET_STATES: readonly string[] = [VmState.STOPPED];

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

/**
 * What the driver reports as the power state Nova records. A frozen instance is PAUSED, or
 * SUSPENDED when Nova suspended it: on this host suspend freezes the instance's processes
 * (cgroup freezer) with their memory kept, since checkpointing to disk is not available.
 */
export function powerStateFor(info: InstanceInfo | null, vmState?: string | null): PowerState {
  if (!info) return PowerState.NOSTATE;
  return info.state === PowerState.PAUSED && vmState === VmState.SUSPENDED ? PowerState.SUSPENDED : info.state;
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

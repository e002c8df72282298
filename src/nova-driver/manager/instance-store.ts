/**
 * Instance records through the conductor: reads, saves guarded by expected_task_state,
 * instance action events (`openstack server event list`) and faults (the `fault` that
 * `openstack server show` prints for an instance in ERROR).
 */
import type { RequestContext } from '../../messaging/types.js';
import type { ConductorClient } from '../conductor.js';
import { NovaObject, type FieldValue } from '../objects/versioned-object.js';
import { objectVersion } from '../objects/manifest.js';
import { withComputeId } from '../objects/compute-id.js';
import { NovaError } from '../errors.js';
import { instancesOnHost } from '../instance-list.js';

/** The Instance fields Nova stores together as one value, instance_extra.flavor (Nova's Instance._save_flavor). */
const FLAVOR_FIELDS = ['flavor', 'old_flavor', 'new_flavor'];

/** Nova caps fault messages at 255 characters (nova/compute/utils.py exception_to_dict). */
const FAULT_MESSAGE_MAX = 255;

export class InstanceStore {
  /** `computeNodeId`: the id of this host's ComputeNode row (null before it is known). */
  constructor(private readonly conductor: ConductorClient, private readonly host: string,
    private readonly computeNodeId: () => number | null = () => null) {}

  async get(ctx: RequestContext, uuid: string, expectedAttrs: string[] = ['flavor', 'info_cache', 'metadata', 'system_metadata']): Promise<NovaObject> {
    const inst = await this.conductor.classActionObject(ctx, 'Instance', 'get_by_uuid', [], { uuid, expected_attrs: expectedAttrs });
    if (!inst) throw new TypeError(`Instance.get_by_uuid(${uuid}) returned nothing`);
    return inst;
  }

  /** Every instance of this host, in pages (src/nova-driver/instance-list.ts). */
  listOnHost(ctx: RequestContext, expectedAttrs: string[] = ['flavor', 'metadata', 'system_metadata']): Promise<NovaObject[]> {
    return instancesOnHost(this.conductor, ctx, this.host, expectedAttrs);
  }

  /**
   * Saves the given fields. With `expected` the conductor refuses (UnexpectedTaskStateError,
   * or UnexpectedDeletingTaskStateError when the user deleted it meanwhile) unless the stored
   * task_state is one of them.
   *
   * The conductor gets the uuid and the changed fields only: Instance.save writes what changed
   * and joins, reads back and returns the optional fields it was given (Nova's
   * Instance.save); a whole instance (flavor, info cache, security groups, ...)
   * costs it about 1.6 times the CPU time (bench/save-cost.ts). The columns and
   * system_metadata come back fresh; the other optional fields stay as this host holds them.
   */
  async save(ctx: RequestContext, inst: NovaObject, fields: Record<string, FieldValue>,
    expected?: (string | null)[]): Promise<void> {
    for (const [k, v] of Object.entries(withComputeId(inst, fields, this.computeNodeId()))) inst.set(k, v);
    // Nova keeps the three flavors in one value: a change to one saves all three, and one not
    // sent would be lazy-loaded, overwriting the changed ones with the stored ones (_save_flavor)
    const changed = new Set(inst.changes());
    const flavors = FLAVOR_FIELDS.some((f) => changed.has(f)) ? FLAVOR_FIELDS : [];
    const sent = inst.changesWith(['uuid', ...flavors]);
    await this.conductor.objectAction(ctx, sent, 'save', [], expected ? { expected_task_state: expected } : {});
    inst.adopt(sent);
  }

  async destroy(ctx: RequestContext, inst: NovaObject): Promise<void> {
    await this.conductor.objectAction(ctx, inst, 'destroy');
  }

  async eventStart(ctx: RequestContext, uuid: string, event: string): Promise<void> {
    await this.conductor.classAction(ctx, 'InstanceActionEvent', 'event_start', [uuid, event], { want_result: false, host: this.host });
  }

  async eventFinish(ctx: RequestContext, uuid: string, event: string, error?: unknown): Promise<void> {
    const excVal = error === undefined ? null : describeError(error);
    const excTb = error instanceof Error && error.stack ? error.stack : null;
    await this.conductor.classAction(ctx, 'InstanceActionEvent', 'event_finish_with_failure', [uuid, event],
      { exc_val: excVal, exc_tb: excTb, want_result: false });
  }

  /** Records why an operation failed, shown as the server's fault. */
  async addFault(ctx: RequestContext, uuid: string, error: unknown): Promise<void> {
    const code = error instanceof NovaError && typeof error.kwargs.code === 'number' ? error.kwargs.code : 500;
    const fault = NovaObject.create('InstanceFault', objectVersion('InstanceFault'), {
      instance_uuid: uuid,
      code,
      message: describeError(error).slice(0, FAULT_MESSAGE_MAX),
      details: code === 500 && error instanceof Error && error.stack ? error.stack : '',
      host: this.host,
    });
    await this.conductor.objectAction(ctx, fault, 'create');
  }
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

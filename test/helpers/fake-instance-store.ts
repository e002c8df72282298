/**
 * InstanceStore as Nova's conductor and database behave behind it: saves apply to the stored
 * record and are refused, as nova/db/main/api.py _instance_update refuses them, when the
 * stored task_state is not one of expected_task_state (UnexpectedDeletingTaskStateError when
 * the user deleted the instance meanwhile, else UnexpectedTaskStateError); an unknown or
 * destroyed instance is InstanceNotFound. Every save, fault and action event is recorded.
 */
import { InstanceNotFound, UnexpectedDeletingTaskStateError, UnexpectedTaskStateError } from '../../src/nova-driver/errors.js';
import type { InstanceStore } from '../../src/nova-driver/manager/instance-store.js';
import { NovaObject, encodeValue, type FieldValue, type Primitive } from '../../src/nova-driver/objects/versioned-object.js';
import type { RequestContext } from '../../src/messaging/types.js';
import { Fake, type PublicOf } from './fake.js';

export interface Save {
  uuid: string;
  /** The fields persisted (what the object had changed). */
  fields: Record<string, FieldValue>;
  expected?: (string | null)[];
}

export interface ActionEvent {
  uuid: string;
  event: string;
  phase: 'start' | 'finish';
  error?: unknown;
}

function copyOf(inst: NovaObject): NovaObject {
  const copy = NovaObject.fromPrimitive(inst.toPrimitive());
  copy.clearChanges();
  return copy;
}

export class FakeInstanceStore extends Fake<PublicOf<InstanceStore>> implements PublicOf<InstanceStore> {
  private readonly records = new Map<string, NovaObject>();
  readonly saves: Save[] = [];
  readonly faults: { uuid: string; error: unknown }[] = [];
  readonly actionEvents: ActionEvent[] = [];
  readonly destroyed: string[] = [];

  constructor(private readonly host: string) {
    super();
  }

  /** The same records as another host of the cloud lists its own (listOnHost): its store. */
  forHost(host: string): FakeInstanceStore {
    return Object.create(this, { host: { value: host } }) as FakeInstanceStore;
  }

  /** Stores a copy of the instance, as the database holds it. */
  put(inst: NovaObject): void {
    this.records.set(inst.str('uuid'), copyOf(inst));
  }

  /** The stored record itself: a test may change it as nova-api would (e.g. task_state = deleting). */
  record(uuid: string): NovaObject {
    const r = this.records.get(uuid);
    if (!r) throw new Error(`no record of ${uuid}`);
    return r;
  }

  /** The record goes, as when nova-api deletes an instance behind the compute's back. */
  remove(uuid: string): void {
    this.records.delete(uuid);
  }

  has(uuid: string): boolean {
    return this.records.has(uuid);
  }

  savesOf(uuid: string): Save[] {
    return this.saves.filter((s) => s.uuid === uuid);
  }

  /** The task_state each save of the instance set, in order (saves that left it alone skipped). */
  taskStates(uuid: string): (string | null)[] {
    return this.savesOf(uuid).filter((s) => 'task_state' in s.fields).map((s) => s.fields.task_state as string | null);
  }

  async get(ctx: RequestContext, uuid: string, expectedAttrs?: string[]): Promise<NovaObject> {
    await this.enter('get', ctx, uuid, expectedAttrs);
    const r = this.records.get(uuid);
    if (!r) throw new InstanceNotFound({ instance_id: uuid });
    return copyOf(r);
  }

  async listOnHost(ctx: RequestContext, expectedAttrs?: string[]): Promise<NovaObject[]> {
    await this.enter('listOnHost', ctx, expectedAttrs);
    return [...this.records.values()].filter((r) => r.optStr('host') === this.host).map(copyOf);
  }

  async save(ctx: RequestContext, inst: NovaObject, fields: Record<string, FieldValue>, expected?: (string | null)[]): Promise<void> {
    for (const [k, v] of Object.entries(fields)) inst.set(k, v);
    await this.enter('save', ctx, inst, fields, expected);
    const uuid = inst.str('uuid');
    const stored = this.records.get(uuid);
    if (!stored) throw new InstanceNotFound({ instance_id: uuid });
    const actual = (stored.get('task_state') ?? null) as string | null;
    if (expected && !expected.includes(actual)) {
      const kwargs = { instance_uuid: uuid, expected, actual };
      throw actual === 'deleting' ? new UnexpectedDeletingTaskStateError(kwargs) : new UnexpectedTaskStateError(kwargs);
    }
    const persisted: Record<string, FieldValue> = {};
    for (const k of inst.changes()) {
      persisted[k] = inst.get(k) ?? null;
      stored.set(k, persisted[k]);
    }
    this.saves.push({ uuid, fields: persisted, ...(expected ? { expected } : {}) });
    // The conductor answers with the record as saved: the object then holds what the database holds.
    const updates: Record<string, Primitive> = {};
    for (const k of Object.keys(inst.fields)) if (stored.has(k)) updates[k] = encodeValue(stored.get(k) ?? null);
    inst.applyUpdates(updates);
  }

  async destroy(ctx: RequestContext, inst: NovaObject): Promise<void> {
    await this.enter('destroy', ctx, inst);
    const uuid = inst.str('uuid');
    if (!this.records.delete(uuid)) throw new InstanceNotFound({ instance_id: uuid });
    this.destroyed.push(uuid);
  }

  async eventStart(ctx: RequestContext, uuid: string, event: string): Promise<void> {
    await this.enter('eventStart', ctx, uuid, event);
    this.actionEvents.push({ uuid, event, phase: 'start' });
  }

  async eventFinish(ctx: RequestContext, uuid: string, event: string, error?: unknown): Promise<void> {
    await this.enter('eventFinish', ctx, uuid, event, error);
    this.actionEvents.push({ uuid, event, phase: 'finish', ...(error === undefined ? {} : { error }) });
  }

  async addFault(ctx: RequestContext, uuid: string, error: unknown): Promise<void> {
    await this.enter('addFault', ctx, uuid, error);
    this.faults.push({ uuid, error });
  }
}

/**
 * Nova's versioned objects as they travel: `{"nova_object.name", "nova_object.namespace",
 * "nova_object.version", "nova_object.data", "nova_object.changes"}` (oslo.versionedobjects
 * base.py obj_to_primitive). `data` holds only set fields; nested objects are primitives of
 * the same shape; `changes` is what the conductor persists on save/create.
 *
 * Objects this host makes carry the Zed versions of manifest.ts, which every later release
 * reads. Objects it receives keep the version and every field they arrived with, and so do
 * the conductor's updates (e.g. Instance 2.8's compute_id from a 2023.2+ conductor): when
 * saved they go back as received, with only this host's changes marked. That is safe without
 * a backport: an oslo.versionedobjects receiver loads only the data and changes its own class
 * has fields for, so extra keys are ignored, and a newer version only ever arrives from a
 * control plane that has it (the conductor serializes at our manifest; nova-api and the
 * conductor cast at their own versions), the one we send it back to.
 */

export type Primitive = null | boolean | number | string | Primitive[] | { [key: string]: Primitive };

export interface ObjectPrimitive {
  'nova_object.name': string;
  'nova_object.namespace': string;
  'nova_object.version': string;
  'nova_object.data': Record<string, Primitive>;
  'nova_object.changes'?: string[];
}

/** A field value once decoded: nested objects become NovaObject instances. */
export type FieldValue = null | boolean | number | string | NovaObject | FieldValue[] | { [key: string]: FieldValue };

export function isObjectPrimitive(value: unknown): value is ObjectPrimitive {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    && typeof (value as Record<string, unknown>)['nova_object.name'] === 'string'
    && typeof (value as Record<string, unknown>)['nova_object.data'] === 'object';
}

export class NovaObject {
  readonly fields: Record<string, FieldValue>;
  private readonly changed: Set<string>;

  constructor(readonly name: string, readonly version: string, fields: Record<string, FieldValue> = {},
    changes: Iterable<string> = [], readonly namespace = 'nova') {
    this.fields = { ...fields };
    this.changed = new Set(changes);
  }

  /** A new object whose given fields are all marked changed (what `create()` persists). */
  static create(name: string, version: string, fields: Record<string, FieldValue>): NovaObject {
    return new NovaObject(name, version, fields, Object.keys(fields));
  }

  static fromPrimitive(p: ObjectPrimitive): NovaObject {
    const fields: Record<string, FieldValue> = {};
    for (const [k, v] of Object.entries(p['nova_object.data'] ?? {})) fields[k] = decodeValue(v);
    return new NovaObject(p['nova_object.name'], p['nova_object.version'], fields,
      p['nova_object.changes'] ?? [], p['nova_object.namespace']);
  }

  has(field: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.fields, field);
  }

  get(field: string): FieldValue | undefined {
    return this.fields[field];
  }

  /** Sets a field and marks it changed, so the next save persists it. */
  set(field: string, value: FieldValue): this {
    this.fields[field] = value;
    this.changed.add(field);
    return this;
  }

  changes(): string[] {
    return [...this.changed];
  }

  /** Forget what arrived marked as changed: only what this host sets is saved. */
  clearChanges(): void {
    this.changed.clear();
  }

  /** After a conductor round trip: apply its updates and forget local changes. */
  applyUpdates(updates: Record<string, Primitive>): void {
    for (const [k, v] of Object.entries(updates)) {
      if (k === 'obj_what_changed') continue;
      this.fields[k] = decodeValue(v);
    }
    this.changed.clear();
    const still = updates.obj_what_changed;
    if (Array.isArray(still)) for (const f of still) if (typeof f === 'string') this.changed.add(f);
  }

  /** A copy of the `kept` fields and the changed ones, the changes marked: what a save must send. */
  changesWith(kept: string[]): NovaObject {
    const fields: Record<string, FieldValue> = {};
    for (const k of [...kept, ...this.changed]) if (this.has(k)) fields[k] = this.fields[k];
    return new NovaObject(this.name, this.version, fields, this.changed, this.namespace);
  }

  /** After a round trip made with a copy (changesWith): the copy's fields taken, its pending changes too. */
  adopt(copy: NovaObject): void {
    Object.assign(this.fields, copy.fields);
    this.changed.clear();
    for (const f of copy.changes()) this.changed.add(f);
  }

  toPrimitive(): ObjectPrimitive {
    const data: Record<string, Primitive> = {};
    for (const [k, v] of Object.entries(this.fields)) data[k] = encodeValue(v);
    const p: ObjectPrimitive = {
      'nova_object.name': this.name,
      'nova_object.namespace': this.namespace,
      'nova_object.version': this.version,
      'nova_object.data': data,
    };
    if (this.changed.size > 0) p['nova_object.changes'] = [...this.changed];
    return p;
  }

  /** Typed read helpers: a field of the wrong type is a wire error, not a silent default. */
  str(field: string): string {
    const v = this.fields[field];
    if (typeof v !== 'string') throw new TypeError(`${this.name}.${field} is not a string`);
    return v;
  }

  optStr(field: string): string | null {
    const v = this.fields[field];
    return typeof v === 'string' ? v : null;
  }

  num(field: string): number {
    const v = this.fields[field];
    if (typeof v !== 'number') throw new TypeError(`${this.name}.${field} is not a number`);
    return v;
  }

  obj(field: string): NovaObject | null {
    const v = this.fields[field];
    return v instanceof NovaObject ? v : null;
  }

  /** The `objects` of an XxxList object. */
  items(): NovaObject[] {
    const objs = this.fields.objects;
    return Array.isArray(objs) ? objs.filter((o): o is NovaObject => o instanceof NovaObject) : [];
  }
}

export function decodeValue(v: Primitive): FieldValue {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (isObjectPrimitive(v)) return NovaObject.fromPrimitive(v);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, FieldValue> = {};
    for (const [k, x] of Object.entries(v)) out[k] = decodeValue(x);
    return out;
  }
  return v;
}

export function encodeValue(v: FieldValue): Primitive {
  if (v instanceof NovaObject) return v.toPrimitive() as unknown as Primitive;
  if (Array.isArray(v)) return v.map(encodeValue);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, Primitive> = {};
    for (const [k, x] of Object.entries(v)) out[k] = encodeValue(x);
    return out;
  }
  return v;
}

/** Nova's DateTime field on the wire: ISO 8601 to the second, UTC, `Z` (oslo isotime). */
export function novaDatetime(d: Date = new Date()): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** Equality of two field values as the database would see them (key order and change marks ignored). */
export function sameValue(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  return canonical(a === undefined ? undefined : encodeValue(a)) === canonical(b === undefined ? undefined : encodeValue(b));
}

function canonical(v: Primitive | undefined): string {
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).filter((k) => k !== 'nova_object.changes').sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

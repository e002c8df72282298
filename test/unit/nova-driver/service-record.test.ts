/**
 * ServiceRecord.register against an in-memory conductor that keeps Service rows the way Nova's
 * does: get_minimum_version_multi over live rows, a deserialized Service whose `version`
 * defaults to the conductor's own unless the data carries one, create/save writing only the
 * sender's changes after refusing a version below the cell's lowest compute (ServiceTooOld).
 */
import { strict as assert } from 'node:assert';
import { ConductorClient } from '../../../src/nova-driver/conductor.js';
import { ServiceRecord } from '../../../src/nova-driver/service-record.js';
import { ServiceVersionRefused } from '../../../src/nova-driver/service-version.js';
import { adminContext } from '../../../src/nova-driver/context.js';
import { PyError } from '../../../src/messaging/errors.js';
import type { RequestContext, RpcClient, Target } from '../../../src/messaging/types.js';
import type { ObjectPrimitive, Primitive } from '../../../src/nova-driver/objects/versioned-object.js';
import { captureLogs } from '../../helpers/log-capture.js';

type Row = Record<string, Primitive>;

class ServiceTable implements RpcClient {
  readonly rows: Row[] = [];
  readonly actions: { method: string; primitive: ObjectPrimitive }[] = [];

  constructor(private readonly conductorVersion: number) {
    this.rows.push({ id: 1, host: 'controller', binary: 'nova-conductor', topic: 'conductor', version: conductorVersion, report_count: 0 });
  }

  addCompute(host: string, version: number): Row {
    const row = { id: this.rows.length + 1, host, binary: 'nova-compute', topic: 'compute', version, report_count: 7 };
    this.rows.push(row);
    return row;
  }

  async call<T>(_target: Target, _ctx: RequestContext, method: string, args: Record<string, unknown>): Promise<T> {
    if (method === 'object_class_action_versions') return this.classAction(args) as T;
    if (method === 'object_action') return this.objectAction(args.objmethod as string, args.objinst as ObjectPrimitive) as T;
    throw new Error(`unexpected ${method}`);
  }

  async cast(): Promise<void> {
    throw new Error('no casts expected');
  }

  private minimum(binary: string): number {
    const versions = this.rows.filter((r) => r.binary === binary).map((r) => r.version as number);
    return versions.length ? Math.min(...versions) : 0;
  }

  private classAction(args: Record<string, unknown>): Primitive {
    const params = args.args as Primitive[];
    if (args.objmethod === 'get_minimum_version_multi') return Math.min(...(params[0] as string[]).map((b) => this.minimum(b)));
    if (args.objmethod === 'get_by_host_and_binary') {
      const row = this.rows.find((r) => r.host === params[0] && r.binary === params[1]);
      return row ? { 'nova_object.name': 'Service', 'nova_object.namespace': 'nova', 'nova_object.version': '1.22', 'nova_object.data': { ...row } } : null;
    }
    throw new Error(`unexpected ${String(args.objmethod)}`);
  }

  private objectAction(objmethod: string, p: ObjectPrimitive): Primitive {
    this.actions.push({ method: objmethod, primitive: p });
    // Service.__init__ then the primitive's data: `version` is the conductor's unless the data has one.
    const obj: Row = { version: this.conductorVersion, ...p['nova_object.data'] };
    const changes = p['nova_object.changes'] ?? [];
    const minimum = this.minimum(obj.binary as string);
    if (minimum > (obj.version as number)) {
      throw new PyError({ pyClass: 'ServiceTooOld', pyModule: 'nova.exception', message: `This service is older (v${String(obj.version)}) than the minimum (v${minimum}) version of the rest of the deployment. Unable to continue.` });
    }
    const updates = Object.fromEntries(changes.map((f) => [f, obj[f]]));
    let row: Row;
    if (objmethod === 'create') {
      row = { id: this.rows.length + 1, ...updates };
      this.rows.push(row);
    } else {
      row = this.rows.find((r) => r.id === obj.id) ?? assert.fail('no such row');
      Object.assign(row, updates);
    }
    return [{ ...row }, null];
  }
}

async function register(table: ServiceTable, forced: number | null = null) {
  const logs = captureLogs();
  const record = new ServiceRecord(new ConductorClient(table, logs.log), 'compute1', logs.log, forced);
  const choice = await record.register(adminContext());
  return { record, choice, logs };
}

describe('service record registration', () => {
  it('a new host on a 2025.1 control plane records 68, with version among the changes', async () => {
    const table = new ServiceTable(68);
    const { choice, logs } = await register(table);
    assert.equal(choice.rpcVersion, '6.4');
    assert.equal(table.rows.find((r) => r.host === 'compute1')?.version, 68);
    const [create] = table.actions;
    assert.equal(create.method, 'create');
    assert.ok(create.primitive['nova_object.changes']?.includes('version'));
    const [line] = logs.find('chose the service version to report');
    assert.deepEqual([line.service_version, line.compute_rpc_version, line.conductor_version, line.minimum_compute_version], [68, '6.4', 68, 0]);
  });

  it('this host\'s record from Zed (64) is raised to the conductor\'s 66', async () => {
    const table = new ServiceTable(66);
    const own = table.addCompute('compute1', 64);
    const { record, choice } = await register(table);
    assert.equal(choice.version, 66);
    assert.equal(own.version, 66);
    assert.equal(own.report_count, 8, 'a report of its own with the version: the host is up from its start');
    assert.equal(record.record.get('version'), 66);
  });

  it('an existing record already at the chosen version is still saved with version in its changes, and a report', async () => {
    const table = new ServiceTable(67);
    table.addCompute('compute1', 67);
    await register(table);
    const [save] = table.actions;
    assert.equal(save.method, 'save');
    assert.deepEqual([...(save.primitive['nova_object.changes'] ?? [])].sort(), ['report_count', 'version']);
  });

  it('a control plane newer than anything implemented is refused before anything is written', async () => {
    const table = new ServiceTable(73);
    await assert.rejects(register(table), (err: unknown) => err instanceof ServiceVersionRefused && /73.*72.*70/.test(err.message));
    assert.deepEqual(table.actions, []);
  });

  it('a forced version is what the record gets, with a warning when above the conductor\'s', async () => {
    const table = new ServiceTable(66);
    const { choice, logs } = await register(table, 68);
    assert.equal(choice.version, 68);
    assert.equal(table.rows.find((r) => r.host === 'compute1')?.version, 68);
    assert.equal(logs.find(/above the conductor's 66/).length, 1);
  });
});

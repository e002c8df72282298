/**
 * The real executable's version choice over a REAL RabbitMQ, against a stand-in conductor (our
 * own RPC server on topic `conductor`) answering the ping, Service.get_minimum_version_multi
 * and the Service create as a cell at a given version would. At 73 (master) the service stops
 * before writing any Service record, with one fatal line naming the versions and exit code 2
 * (not restarted by systemd); at 68 (2025.1) it creates its record at 68, version among the
 * changes.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RpcRuntime } from '../../../src/messaging/runtime.js';
import type { Endpoint } from '../../../src/messaging/types.js';
import type { ObjectPrimitive } from '../../../src/nova-driver/objects/versioned-object.js';
import { connectComputeRpc } from '../../../src/nova-driver/messaging-config.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { ensureRabbitMQ, TEST_TRANSPORT_URL } from '../../helpers/rabbitmq.js';

const CLI = fileURLToPath(new URL('../../../src/cli.js', import.meta.url));

describe('the service version chosen by the running executable', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'nc-version-choice-'));
  const classActions: string[] = [];
  const objectActions: { objmethod: string; objinst: ObjectPrimitive }[] = [];
  let conductorVersion = 0;
  let rpc: RpcRuntime;

  before(async () => {
    await ensureRabbitMQ();
    rpc = await connectComputeRpc({ transport_url: TEST_TRANSPORT_URL }, captureLogs().log);
    const conductor: Endpoint = {
      namespace: null, version: '3.0',
      handlers: {
        async object_class_action_versions(_ctx, args) {
          classActions.push(`${String(args.objname)}.${String(args.objmethod)}(${JSON.stringify(args.args)})`);
          if (args.objmethod === 'get_minimum_version_multi') return (args.args as string[][])[0][0] === 'nova-conductor' ? conductorVersion : 0;
          return null;
        },
        async object_action(_ctx, args) {
          const objinst = args.objinst as ObjectPrimitive;
          objectActions.push({ objmethod: String(args.objmethod), objinst });
          return [{ ...objinst['nova_object.data'], id: 5 }, null];
        },
      },
    };
    const baseapi: Endpoint = { namespace: 'baseapi', version: '1.1', handlers: { async ping(_c, a) { return { service: 'conductor', arg: a.arg }; } } };
    await rpc.serve({ topic: 'conductor', server: 'controller' }, [conductor, baseapi]);
  });

  after(async () => {
    await rpc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the executable until it exits (at most 60 s); its JSON log lines and exit code. */
  async function runHost(host: string, placement = true): Promise<{ code: number | null; lines: { level: number; msg: string; [k: string]: unknown }[]; output: string }> {
    const conf = join(dir, `${host}.conf`);
    // Placement is not reached before the Service record; its client only needs an auth_url to be built.
    writeFileSync(conf, `[DEFAULT]\ntransport_url = ${TEST_TRANSPORT_URL}\nhost = ${host}\nstate_path = ${dir}\n`
      + (placement ? '[placement]\nauth_url = http://127.0.0.1:9/v3\n' : ''));
    const child = spawn(process.execPath, [CLI, '--config-file', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(killer);
    const lines = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
    return { code, lines, output };
  }

  it('a control plane at 73: one fatal line naming the versions, exit code 2, no Service record written', async () => {
    conductorVersion = 73;
    classActions.length = 0;
    objectActions.length = 0;
    const { code, lines, output } = await runHost('nc-version-refusal');
    assert.equal(code, 2, output);
    const fatal = lines.filter((l) => l.level === 60);
    assert.equal(fatal.length, 1, output);
    assert.equal(fatal[0].msg, 'cannot join this control plane: the control plane is at service version 73 and accepts nova-compute 72 or newer; this host implements up to 70');
    assert.ok(classActions.includes('Service.get_minimum_version_multi([["nova-conductor"]])'), classActions.join('; '));
    assert.deepEqual(objectActions, []);
  });

  it('a control plane at 68: the Service record is created at 68 with version among its changes, RPC 6.4 chosen', async () => {
    conductorVersion = 68;
    objectActions.length = 0;
    // It goes on to Placement, which is not there: the run ends in a start failure after the record.
    const { lines, output } = await runHost('nc-version-68');
    const [create] = objectActions;
    assert.equal(create?.objmethod, 'create', output);
    assert.equal(create.objinst['nova_object.data'].version, 68);
    assert.ok(create.objinst['nova_object.changes']?.includes('version'));
    const [chosen] = lines.filter((l) => l.msg === 'chose the service version to report');
    assert.deepEqual([chosen?.service_version, chosen?.compute_rpc_version, chosen?.conductor_version], [68, '6.4', 68], output);
  });

  it('no Placement credentials: one configuration error line, exit 2 at once (its broker connection closed)', async () => {
    const t0 = Date.now();
    const { code, output } = await runHost('nc-unbuildable', false);
    assert.equal(code, 2, output);
    assert.match(output, /^nova-container: configuration error: \[placement\] auth_url is not set/m, output);
    assert.ok(Date.now() - t0 < 30_000, `exited after ${Date.now() - t0} ms`);
  });
});

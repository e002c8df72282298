/**
 * Live migration is refused with a clear message, and the server stays where it runs. A
 * second nova-container host (same engine, its own host name) is the destination. At 2.29, as
 * `nova live-migration SERVER HOST` sends it, the host is forced and nova-api waits for the
 * conductor's pre-checks (it does before 2.34), answering their MigrationPreCheckError with a
 * 400 that carries its text. From 2.34 nova-api does not wait: the conductor keeps the server
 * ACTIVE and sets the migration to error, as it does for any MigrationPreCheckError.
 * Runs alone: the scheduler could put another test's servers on the second host.
 */
import { strict as assert } from 'node:assert';
import { sharedImage } from '../lifecycle/fixture.js';
import { Created, getServer, inspectContainer, waitForStatus } from '../../helpers/servers.js';
import { computeConfValue, waitFor, type ComputeProcess } from '../../helpers/cloud.js';
import { COMPUTE_URL, forgetTestCompute, joinTestCompute, rest } from '../../helpers/rest.js';

const RUN = `nclm-${Date.now().toString(36)}`;
const DEST = 'nc-live-migration-test';

describe('live migration: refused with a clear message, the server left running where it was', function () {
  this.timeout(300_000);
  const created = new Created();
  const source = computeConfValue('DEFAULT', 'host') ?? 'vm';
  let dest: ComputeProcess | undefined;
  let server = '';

  before(async () => {
    // booted before the second host is up: it runs on the cloud's
    server = await created.boot(`${RUN}-server`, { image: (await sharedImage()).id });
    await waitForStatus(server, 'ACTIVE', 120_000);
    await forgetTestCompute(DEST);
    dest = await joinTestCompute(DEST, 'report_interval = 5\n');
  });

  after(async () => {
    await dest?.stop();
    await forgetTestCompute(DEST);
    await created.cleanup();
  });

  it('os-migrateLive to the other host: a 400 saying why; ACTIVE on its host, its container running', async () => {
    const before = await inspectContainer(server);
    const r = await rest<{ badRequest?: { message: string } }>({
      method: 'POST', url: `${COMPUTE_URL}/servers/${server}/action`, headers: { 'X-OpenStack-Nova-API-Version': '2.29' },
      data: { 'os-migrateLive': { host: DEST, block_migration: 'auto' } },
    });
    console.log(`      ${r.status}: ${r.data.badRequest?.message ?? JSON.stringify(r.data)}`);
    assert.equal(r.status, 400);
    assert.match(r.data.badRequest?.message ?? '', /Migration pre-check error: nova-container does not live-migrate: a running container would have to be checkpointed and restored on the other host \(CRIU\)/);
    const s = await waitFor('the server\'s task_state cleared', async () => {
      const x = await getServer(server);
      return x?.['OS-EXT-STS:task_state'] === null ? x : undefined;
    }, 30_000);
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s['OS-EXT-SRV-ATTR:host'], source);
    const after = await inspectContainer(server);
    assert.equal(after?.State.Status, 'running');
    assert.equal(after?.State.StartedAt, before?.State.StartedAt, 'not restarted');
  });
});

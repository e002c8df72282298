/**
 * nova-container killed (SIGKILL) while 4 servers on `private` build, 5 rounds, each followed
 * by `./devstack/local-cloud.sh up` (the first round; the others by `restart-compute`, which starts
 * nova-container the same way without checking every other service): no server stays in BUILD or a task state, each ACTIVE one
 * has a running workload holding its address, each ERROR one has a fault, and every one of
 * them is then deleted by `openstack server delete`, leaving no workload, sandbox, tap, port
 * or allocation. The kill lands at a different point of the builds each round (KILL_WHEN).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { sharedImage } from './fixture.js';
import {
  Created, alivePid, allocations, cli, containerNameOf, engine, execIn, getServer, isAlive, novaContainerPid, sandboxNameOf, sleep,
  summary, waitForGone, waitForServer, type Server,
} from '../../helpers/servers.js';
import { computeGet, ports } from '../../helpers/rest.js';
import { localCloud } from '../../helpers/cloud.js';

const RUN = `nckill-${Date.now().toString(36)}`;
const SERVERS = 4;
const state = (s: Server | null): string => `${s?.status ?? 'gone'}/${s?.['OS-EXT-STS:task_state'] ?? '-'}`;
/** When each round kills: from before the casts arrive to when some servers are already ACTIVE. */
const KILL_WHEN: [string, (servers: (Server | null)[]) => boolean][] = [
  ['at once', () => true],
  ['a server is networking', (ss) => ss.some((s) => s?.['OS-EXT-STS:task_state'] === 'networking')],
  ['a server is spawning', (ss) => ss.some((s) => s?.['OS-EXT-STS:task_state'] === 'spawning')],
  ['a server is ACTIVE', (ss) => ss.some((s) => s?.status === 'ACTIVE')],
  ['two servers are ACTIVE', (ss) => ss.filter((s) => s?.status === 'ACTIVE').length >= 2],
];
/** NC_KILL_ROUNDS: the rounds to run, as indexes of KILL_WHEN (e.g. 1,2,4); all by default. */
const ROUND_INDEXES = process.env.NC_KILL_ROUNDS ? process.env.NC_KILL_ROUNDS.split(',').map(Number) : KILL_WHEN.map((_, i) => i);
if (ROUND_INDEXES.some((i) => !KILL_WHEN[i])) throw new Error(`NC_KILL_ROUNDS=${process.env.NC_KILL_ROUNDS}: indexes from 0 to ${KILL_WHEN.length - 1}`);
const ROUNDS = ROUND_INDEXES.length;

/** Host devices whose alias names one of these servers (what the Linux bridge plug records). */
function devicesOf(ids: string[]): string[] {
  const links = JSON.parse(execFileSync('ip', ['-j', '-d', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' })) as { ifname: string; ifalias?: string }[];
  return links.filter((l) => ids.some((id) => l.ifalias?.endsWith(`:${id}`))).map((l) => l.ifname);
}

async function containerExists(name: string): Promise<boolean> {
  return engine().getContainer(name).inspect().then(() => true, () => false);
}

const settled = (s: Server | null): boolean => s !== null && ['ACTIVE', 'ERROR', 'SHUTOFF'].includes(s.status) && !s['OS-EXT-STS:task_state'];

describe('lifecycle: kill -9 during networked builds, then local-cloud.sh up', function () {
  this.timeout(1_200_000);
  const created = new Created();

  after(async function () {
    this.timeout(300_000);
    if (!alivePid()) await localCloud('restart-compute').catch(() => undefined);
    await created.cleanup();
  });

  it(`${ROUNDS} rounds of ${SERVERS} builds: every server settles, and every one is deleted leaving nothing`, async () => {
    const image = await sharedImage();
    const outcomes: string[] = [];
    for (const round of ROUND_INDEXES) {
      const name = `${RUN}-r${round}`;
      await cli(['--os-compute-api-version', '2.37', 'server', 'create', '--image', image.id, '--flavor', 'm1.tiny', '--network', 'private',
        '--min', String(SERVERS), '--max', String(SERVERS), name, '-f', 'value', '-c', 'id']);
      const r = await computeGet<{ servers: { id: string; name: string }[] }>(`/servers?name=${encodeURIComponent(`^${name}-[0-9]+$`)}`);
      const ids = (r.data.servers ?? []).map((s) => s.id);
      for (const id of ids) created.servers.add(id);
      assert.equal(ids.length, SERVERS, `server create --min ${SERVERS} made ${ids.length}`);

      const [when, ready] = KILL_WHEN[round];
      let before = await Promise.all(ids.map(getServer));
      for (const until = Date.now() + 60_000; !ready(before) && Date.now() < until; await sleep(50)) before = await Promise.all(ids.map(getServer));
      const pid = novaContainerPid();
      process.kill(pid, 'SIGKILL');
      while (isAlive(pid)) await sleep(20);
      await localCloud(round === ROUND_INDEXES[0] ? 'up' : 'restart-compute');

      const after = await Promise.all(ids.map((id) => waitForServer(id, 'settled', settled, 120_000, 250, false) as Promise<Server>));
      for (const [i, s] of after.entries()) {
        if (s.status === 'ACTIVE') {
          const addr = s.addresses.private?.[0]?.addr;
          assert.ok(addr, `${s.id} is ACTIVE with an address`);
          const seen = await execIn(s.id, ['busybox', 'ip', '-4', 'addr', 'show', 'dev', 'eth0']);
          assert.match(seen.output, new RegExp(`inet ${addr.replace(/\./g, '\\.')}/`), `ACTIVE ${s.id}: its running workload holds ${addr}`);
        } else {
          assert.equal(s.status, 'ERROR', `${s.id} settled as ${summary(s)}`);
          assert.ok(s.fault?.message, `ERROR ${s.id} has a fault`);
        }
        outcomes.push(`round ${round} (killed when ${when}): ${state(before[i])} -> ${s.status}`);
      }

      // Without --wait: the CLI's wait gives up at once on a server in ERROR (and exits 0).
      await cli(['server', 'delete', ...ids]);
      for (const id of ids) {
        await waitForGone(id, 60_000);
        created.servers.delete(id);
        assert.equal(await containerExists(containerNameOf(id)), false, `no workload of ${id}`);
        assert.equal(await containerExists(sandboxNameOf(id)), false, `no sandbox of ${id}`);
        assert.deepEqual(await allocations(id), {}, `no allocation of ${id}`);
      }
      assert.deepEqual(await ports({ device_id: ids }), [], 'no port of these servers');
      assert.deepEqual(devicesOf(ids), [], 'no tap of these servers');
    }
    console.log(`      ${outcomes.join('\n      ')}`);
    assert.ok(outcomes.some((o) => o.endsWith('ACTIVE')) && outcomes.some((o) => o.endsWith('ERROR')), 'the rounds saw builds finish and builds cut short');
  });
});

/**
 * What the podman engine sends that the Docker engine does not: the user namespace mode of an
 * instance's sandbox, the OCI form of limits changed in place and a first resolv.conf; what it
 * reads differently (the listing's states, its version and store); and a removal that podman's
 * cleanup of the same container got in the way of.
 */
import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodmanEngine, hostResolvers, ociResources, podmanUserns } from '../../../src/runtime/podman-engine.js';

describe('podman engine: user namespaces and limits in place', () => {
  it('a remap first:count is an auto namespace of that explicit size over the same host ids for all; empty is none', () => {
    assert.equal(podmanUserns('100000:65536'), 'auto:size=65536,uidmapping=0:100000:65536,gidmapping=0:100000:65536');
    assert.equal(podmanUserns(''), '');
  });

  it('refuses a remap that is not two positive integers, or that maps root to host root', () => {
    for (const bad of ['100000', '0:65536', '100000:0', 'a:b', '100000:65536:1', ' 100000:65536']) {
      assert.throws(() => podmanUserns(bad), /podman_userns_remap .*first:count/, bad);
    }
  });

  it('a container\'s first resolv.conf: the host\'s resolvers, search and options, not its loopback ones or comments', () => {
    const host = '# from the host\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n  nameserver ::1\nnameserver fd00::53\nsearch example.org\noptions edns0 trust-ad\n';
    assert.equal(hostResolvers(host), 'nameserver 10.0.0.2\nnameserver fd00::53\nsearch example.org\noptions edns0 trust-ad\n');
    assert.equal(hostResolvers('nameserver 127.0.0.1\n'), '');
  });

  it('limits become OCI resources: memory with no swap beyond it, CPU period, quota and shares, pids; what is absent is left out', () => {
    assert.deepEqual(ociResources({ vcpus: 2, memoryMb: 128, pids: 50, cpuShares: 512 }), {
      memory: { limit: 128 * 2 ** 20, swap: 128 * 2 ** 20 },
      cpu: { period: 100_000, quota: 200_000, shares: 512 },
      pids: { limit: 50 },
    });
    assert.deepEqual(ociResources({ memoryMb: 64 }), { memory: { limit: 64 * 2 ** 20, swap: 64 * 2 ** 20 } });
    assert.deepEqual(ociResources({}), {});
  });
});

describe('podman engine: what it reads', () => {
  let dir = '';
  let server: Server;
  const asked: string[] = [];
  /** Whether `_ping` says Libpod-API-Version, as podman's own service does. */
  let libpodHeader = true;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nc-podman-read-'));
    // podman 5.4's own listing of a run that just ended (its cleanup not done), one not yet
    // initialised, and one running
    const rows = [['stopped', 3, 0], ['configured', 0, 0], ['initialized', 0, 4141], ['running', 0, 4242]]
      .map(([state, exit, pid], i) => ({ Id: String(i).repeat(64), Names: [`c${i}`], ImageID: 'a1', Labels: { role: state }, State: state, ExitCode: exit, Pid: pid }));
    server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      asked.push(path);
      const headers = { 'Content-Type': 'application/json', 'Api-Version': '1.41', ...(libpodHeader ? { 'Libpod-Api-Version': '5.4.2' } : {}) };
      if (path.endsWith('/_ping')) return (res.writeHead(200, headers), res.end('OK'));
      const answers: Record<string, unknown> = {
        '/libpod/containers/json': rows,
        '/containers/json': [{ message: 'the listing is asked of libpod, which gives pids' }],
        '/libpod/info': { store: { graphRoot: '/var/lib/containers/storage', runRoot: '/run/containers/storage', graphDriverName: 'btrfs' } },
        '/version': { Version: '5.4.2-compat', ApiVersion: '1.41' },
        '/info': { DockerRootDir: '/var/lib/containers/storage', Driver: 'btrfs' },
      };
      // a service that is not podman's own has no libpod routes
      const body = libpodHeader || !path.includes('/libpod/') ? Object.entries(answers).find(([route]) => path.endsWith(route))?.[1] : undefined;
      res.writeHead(body ? 200 : 404, headers);
      res.end(JSON.stringify(body ?? { message: `${path} is not for this test` }));
    });
    await new Promise<void>((r) => server.listen(join(dir, 'podman.sock'), r));
  });

  after(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const engine = () => new PodmanEngine(`unix://${join(dir, 'podman.sock')}`, join(dir, 'state'), '', 5_000);

  it('lists through libpod, with pids, naming libpod\'s states as inspect does: a run that ended is exited, one not yet made or prepared and not started is created', async () => {
    const listed = await engine().listContainers({});
    assert.deepEqual(listed.map((c) => `${c.name}:${c.labels.role}:${c.state}:${c.exitCode}:${c.pid}:${c.image}`),
      ['c0:stopped:exited:3:0:sha256:a1', 'c1:configured:created:0:0:sha256:a1', 'c2:initialized:created:0:4141:sha256:a1', 'c3:running:running:0:4242:sha256:a1']);
  });

  it('its version from _ping and its store from one libpod/info, never /version or /info (podman asks dpkg for those)', async () => {
    const e = engine();
    asked.length = 0;
    const infos = [await e.info(), await e.info()];
    for (const info of infos) assert.deepEqual(info, { version: '5.4.2', apiVersion: '1.41', dataRoot: '/var/lib/containers/storage', storageDriver: 'btrfs' });
    assert.deepEqual(asked.filter((p) => !p.endsWith('/_ping')), ['/v4.0.0/libpod/info'], 'the store asked once');
    assert.equal(asked.filter((p) => p.endsWith('/_ping')).length, 2, 'the engine asked at each info');
  });

  it('a _ping without Libpod-API-Version (not podman\'s own service): info asks /version and /info, as of dockerd', async () => {
    libpodHeader = false;
    try {
      asked.length = 0;
      assert.deepEqual(await engine().info(), { version: '5.4.2-compat', apiVersion: '1.41', dataRoot: '/var/lib/containers/storage', storageDriver: 'btrfs' });
      assert.ok(asked.some((p) => p.endsWith('/version')) && asked.some((p) => p.endsWith('/info') && !p.includes('libpod')), asked.join(' '));
      assert.ok(!asked.some((p) => p.includes('/libpod/')), asked.join(' '));
    } finally {
      libpodHeader = true;
    }
  });

  it('an engine that does not answer _ping: info fails, saying so', async () => {
    await assert.rejects(new PodmanEngine(`unix://${join(dir, 'nothing.sock')}`, join(dir, 'state'), '', 5_000).info(), /container engine at unix:.*nothing\.sock unreachable/);
  });
});

/**
 * podman 4.3 racing its own end of a run, on a stand-in for podman's API on a unix socket: a
 * forced removal fails with what podman answers then (EBUSY from its cleanup, or a kill of a run
 * it found stopped) and the container is gone afterwards (the cleanup finished it) or still
 * there; changed limits fail to go onto a run that ended as it started while podman still calls
 * it running (removeBesideCleanup, applyToRun).
 */
describe('podman engine: races with podman\'s own end of a run', () => {
  const ID = 'c'.repeat(64);
  let dir = '';
  let server: Server;
  let present = true;
  let deletes = 0;
  /** What each removal is answered, and whether the container is gone after it. */
  let deleteAnswers: Array<{ status: number; message: string; gone: boolean }> = [];
  /** Whether each inspect finds the run running (not running once they are used up). */
  let runningAnswers: boolean[] = [];
  /** What each update of limits is answered (a success once they are used up). */
  let updateAnswers: Array<{ status: number; message: string }> = [];
  let updates = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nc-podman-race-'));
    server = createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const path = (req.url ?? '').split('?')[0];
      if (path.endsWith('/libpod/info')) return send(200, { store: { runRoot: dir, graphDriverName: 'btrfs' } });
      if (!path.includes(`/containers/${ID}`)) return send(404, { message: 'no such container' });
      if (req.method === 'GET') {
        const running = runningAnswers.shift() ?? false;
        return present ? send(200, { Id: ID, Name: '/nova-x', State: { Running: running, Pid: running ? 4242 : 0 }, Config: { Labels: {} }, HostConfig: {} }) : send(404, { message: 'no such container' });
      }
      if (path.endsWith('/start')) return (res.writeHead(204), res.end());
      if (path.endsWith('/update')) {
        updates++;
        const answer = updateAnswers.shift() ?? { status: 201, message: '' };
        return answer.status === 201 ? (res.writeHead(201), res.end()) : send(answer.status, { message: answer.message, cause: answer.message });
      }
      deletes++;
      const answer = deleteAnswers.shift() ?? { status: 204, message: '', gone: true };
      present &&= !answer.gone;
      return answer.status === 204 ? (res.writeHead(204), res.end()) : send(answer.status, { message: answer.message, cause: answer.message });
    });
    await new Promise<void>((r) => server.listen(join(dir, 'podman.sock'), r));
  });

  after(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const ebusy = `removing container ${ID} root filesystem: 1 error occurred:\n\t* unlinkat /x/btrfs-containers/${ID}/userdata/shm: device or resource busy\n`;
  const engine = () => new PodmanEngine(`unix://${join(dir, 'podman.sock')}`, join(dir, 'state'), '', 5_000);

  it('the container gone after the failure: removed, with no second removal', async () => {
    present = true; deletes = 0;
    deleteAnswers = [{ status: 500, message: ebusy, gone: true }]; // the cleanup finished the removal
    await engine().removeContainer(ID);
    assert.equal(deletes, 1);
  });

  it('the container still there after the failure: removed again', async () => {
    present = true; deletes = 0;
    deleteAnswers = [{ status: 500, message: ebusy, gone: false }];
    await engine().removeContainer(ID);
    assert.equal(deletes, 2);
    assert.equal(present, false);
  });

  it('the cleanup still holding the run\'s files at the second removal: removed once it lets go', async () => {
    present = true; deletes = 0;
    deleteAnswers = [{ status: 500, message: ebusy, gone: false }, { status: 500, message: ebusy, gone: false }];
    await engine().removeContainer(ID);
    assert.equal(deletes, 3);
    assert.equal(present, false);
  });

  it('any other failure of the removal is the removal\'s error', async () => {
    present = true; deletes = 0;
    deleteAnswers = [{ status: 500, message: 'storage is on fire', gone: false }];
    await assert.rejects(engine().removeContainer(ID), /storage is on fire/);
    assert.equal(deletes, 1);
  });

  it('a kill that finds the run already stopped: removed again', async () => {
    present = true; deletes = 0;
    const improper = `cannot remove container ${ID} as it could not be stopped: sending SIGKILL to container ${ID}: container state improper: stopped`;
    deleteAnswers = [{ status: 500, message: improper, gone: false }];
    await engine().removeContainer(ID);
    assert.equal(deletes, 2);
    assert.equal(present, false);
  });

  describe('changed limits onto a run as it starts', () => {
    const runcFailed = `\`/usr/bin/runc update --resources=/x/podman123 ${ID}\` failed: exit status 1`;
    beforeEach(async () => {
      present = true; updates = 0;
      await mkdir(join(dir, 'state', 'limits'), { recursive: true });
      await writeFile(join(dir, 'state', 'limits', `${ID}.json`), JSON.stringify({ limits: { memoryMb: 48 } }));
    });

    it('an update that fails while podman still calls the ended run running: tried again, and started once podman says it ended', async () => {
      updateAnswers = [{ status: 500, message: runcFailed }, { status: 500, message: runcFailed }];
      runningAnswers = [true, false];
      await engine().startContainer(ID);
      assert.equal(updates, 2);
      assert.deepEqual(runningAnswers, [], 'podman asked after each failed update');
    });

    it('an update that fails once on a run that goes on: tried again, and it holds', async () => {
      updateAnswers = [{ status: 500, message: runcFailed }];
      runningAnswers = [true];
      await engine().startContainer(ID);
      assert.equal(updates, 2);
    });

    it('an update that keeps failing on a run podman calls running: the start fails with the update\'s error', async function () {
      this.timeout(20_000);
      updateAnswers = Array.from({ length: 1000 }, () => ({ status: 500, message: runcFailed }));
      runningAnswers = Array.from({ length: 1000 }, () => true);
      await assert.rejects(engine().startContainer(ID), /update limits of container .*runc update/);
      assert.ok(updates > 2, `tried more than twice (${updates})`);
      updateAnswers = []; runningAnswers = [];
    });
  });
});

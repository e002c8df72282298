/**
 * Servers on the local cloud as an end user drives them: the actions a test shows through the
 * real `openstack` CLI, what it stands on and polling through the REST APIs
 * (test/helpers/rest.ts), the containers behind them through the cloud's engine, and a
 * registry of everything a test created so that it is removed again, also after a failure.
 */
import type Docker from 'dockerode';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CLOUD_DIR, localCloud, openstack, type RcFile } from './cloud.js';
import { GLANCE_URL, compute, computeGet, networkId, placement, rest } from './rest.js';
import { demuxLogs } from '../../src/runtime/docker-engine.js';
import { ENGINE_DRIVER, collect, dockerClient, engineTmpDir, importRootfs } from '../integration/glance-bridge/images.js';

export const NOVA_CONTAINER_LOG = join(CLOUD_DIR, 'logs', 'nova-container.log');
export const NOVA_CONTAINER_PID = join(CLOUD_DIR, 'run', 'nova-container.pid');
/** Boots need 2.37+ for `--nic none`. */
export const BOOT_MICROVERSION = '2.37';

export interface Fault { code: number; message: string; details?: string; created: string }
export interface Server {
  id: string;
  name: string;
  status: string;
  'OS-EXT-STS:vm_state': string;
  'OS-EXT-STS:task_state': string | null;
  'OS-EXT-STS:power_state': number;
  'OS-EXT-SRV-ATTR:host': string | null;
  flavor: { vcpus: number; ram: number; disk: number; original_name: string };
  metadata: Record<string, string>;
  addresses: Record<string, { addr: string; version: number }[]>;
  fault?: Fault;
}

/** The server as GET /servers/{id} (2.87) shows it; null once it is gone. */
export async function getServer(id: string): Promise<Server | null> {
  const r = await computeGet<{ server: Server }>(`/servers/${id}`);
  if (r.status === 404) return null;
  if (r.status !== 200) throw new Error(`GET /servers/${id}: HTTP ${r.status} ${JSON.stringify(r.data)}`);
  return r.data.server;
}

export function summary(s: Server | null): string {
  if (!s) return 'gone';
  return `${s.status} (vm_state ${s['OS-EXT-STS:vm_state']}, task_state ${s['OS-EXT-STS:task_state']}, power_state ${s['OS-EXT-STS:power_state']})` +
    (s.fault ? `, fault: ${s.fault.message}` : '');
}

/**
 * Polls GET /servers/{id} every `everyMs` until `ok(server)`; fails at once when the server
 * went to ERROR (unless ERROR is what is awaited), with the fault in the message.
 */
export async function waitForServer(id: string, what: string, ok: (s: Server | null) => boolean,
  timeoutMs = 60_000, everyMs = 150, failOnError = true): Promise<Server | null> {
  const deadline = Date.now() + timeoutMs;
  let last: Server | null = null;
  for (;;) {
    last = await getServer(id);
    if (ok(last)) return last;
    if (failOnError && last?.status === 'ERROR') throw new Error(`server ${id} went to ERROR while waiting for ${what}: ${summary(last)}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for server ${id} to be ${what}; it is ${summary(last)}`);
    await sleep(everyMs);
  }
}

/** Settled in `status`: no task under way. */
export function waitForStatus(id: string, status: string, timeoutMs = 60_000): Promise<Server> {
  return waitForServer(id, status, (s) => s?.status === status && !s['OS-EXT-STS:task_state'], timeoutMs) as Promise<Server>;
}

export async function waitForGone(id: string, timeoutMs = 60_000): Promise<void> {
  // a server in ERROR stays ERROR (task_state deleting) until it is gone
  await waitForServer(id, 'gone', (s) => s === null, timeoutMs, 150, false);
}

export interface InstanceAction { action: string; request_id: string; message: string | null; events?: { event: string; result: string | null }[] }

export async function instanceActions(id: string): Promise<InstanceAction[]> {
  const r = await computeGet<{ instanceActions: InstanceAction[] }>(`/servers/${id}/os-instance-actions`);
  if (r.status !== 200) throw new Error(`instance actions of ${id}: HTTP ${r.status}`);
  return r.data.instanceActions;
}

export async function instanceAction(id: string, requestId: string): Promise<InstanceAction> {
  const r = await computeGet<{ instanceAction: InstanceAction }>(`/servers/${id}/os-instance-actions/${requestId}`);
  if (r.status !== 200) throw new Error(`instance action ${requestId} of ${id}: HTTP ${r.status}`);
  return r.data.instanceAction;
}

/** GET /allocations/{consumer} from Placement: resource provider uuid -> resources. */
export async function allocations(consumer: string): Promise<Record<string, { resources: Record<string, number> }>> {
  return (await placement<{ allocations: Record<string, { resources: Record<string, number> }> }>('GET', `/allocations/${consumer}`)).allocations;
}

export async function glanceImage(id: string): Promise<{ id: string; status: string; size: number; checksum: string; os_hash_value: string } | null> {
  const r = await rest<{ id: string; status: string; size: number; checksum: string; os_hash_value: string }>({ url: `${GLANCE_URL}/v2/images/${id}` });
  if (r.status === 404) return null;
  if (r.status !== 200) throw new Error(`GET /v2/images/${id}: HTTP ${r.status}`);
  return r.data;
}

/** Until Glance's image `id` is active; fails at once when it is gone or can no longer become so. */
export async function waitForImageActive(id: string, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const img = await glanceImage(id);
    if (img?.status === 'active') return;
    if (!img || ['killed', 'deleted', 'pending_delete', 'deactivated'].includes(img.status)) throw new Error(`${what} (${id}) is ${img?.status ?? 'gone'}`);
    if (Date.now() > deadline) throw new Error(`${what} (${id}) is ${img.status}, not active, after ${timeoutMs} ms`);
    await sleep(200);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ------------------------------------------------------------------------ CLI

/** `openstack ARGS` as the user of the openrc (or of `rc`); plain output. */
export function cli(args: string[], rc: RcFile = 'openrc'): Promise<string> {
  return openstack<string>(args, false, rc);
}

/**
 * `openstack server delete SERVER` as `rc`'s user, then until the server is gone, looked at
 * through the REST API: the CLI's `--wait` looks every 5 s (osc-lib's wait_for_status).
 */
export async function deleteWithCli(server: string, rc: RcFile = 'openrc', timeoutMs = 60_000): Promise<void> {
  await cli(['server', 'delete', server], rc);
  await waitForGone(server, timeoutMs);
}

/** Boots `name` (m1.tiny, on `network`) asking for compute host `host` (2.74), as the user of `rc`; its id. */
export function bootOnHost(name: string, image: string, host: string, rc: RcFile, network: string): Promise<string> {
  return bootThroughApi(name, { image, host, rc, network });
}

/** The id of the flavor named `name` (POST /servers takes no name). */
async function flavorId(name: string): Promise<string> {
  const r = await computeGet<{ flavors: { id: string; name: string }[] }>('/flavors?is_public=none');
  const f = r.data.flavors?.find((x) => x.name === name);
  if (!f) throw new Error(`no flavor named ${name} (HTTP ${r.status})`);
  return f.id;
}

/** POST /servers, as `openstack server create` sends it; the new server's id. */
async function bootThroughApi(name: string, o: BootOptions & { network?: string }): Promise<string> {
  const rc = o.rc ?? 'openrc';
  const server: Record<string, unknown> = {
    name, imageRef: o.image, flavorRef: await flavorId(o.flavor ?? 'm1.tiny'),
    networks: o.network ? [{ uuid: await networkId(o.network, rc) }] : 'none',
  };
  if (o.properties) server.metadata = o.properties;
  if (o.userDataFile) server.user_data = readFileSync(o.userDataFile).toString('base64');
  if (o.host) server.host = o.host;
  const r = await compute<{ server?: { id: string } }>('POST', '/servers', { server }, rc, o.host ? '2.74' : BOOT_MICROVERSION);
  if (r.status !== 202 || !r.data.server) throw new Error(`POST /servers ${name}: HTTP ${r.status} ${JSON.stringify(r.data)}`);
  return r.data.server.id;
}

export interface BootOptions {
  image: string;
  flavor?: string;
  properties?: Record<string, string>;
  userDataFile?: string;
  /** Whose server it is (default the admin's openrc). */
  rc?: RcFile;
  /** The compute host it must go to (2.74's --host; the admin's). */
  host?: string;
  /** Booted with `openstack server create`, where that is what the test shows (else POST /servers). */
  cli?: boolean;
}

// ------------------------------------------------------------------------ engine

let docker: Docker | undefined;
export function engine(): Docker {
  docker ??= dockerClient();
  return docker;
}

export function containerNameOf(serverId: string): string {
  return `nova-${serverId}`;
}

/**
 * Whether a server's network namespace is held by a sandbox container its workload joins
 * (Docker), or is the workload's own (podman): src/runtime/network-homes.ts.
 */
export const SANDBOXED = ENGINE_DRIVER !== 'podman';

/** The container holding the server's network namespace, where there is one (SANDBOXED). */
export function sandboxNameOf(serverId: string): string {
  return `nova-${serverId}-net`;
}

/** `docker inspect nova-<id>`, or null when there is no such container. */
export async function inspectContainer(serverId: string): Promise<Docker.ContainerInspectInfo | null> {
  try {
    return await engine().getContainer(containerNameOf(serverId)).inspect();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return null;
    throw err;
  }
}

/** `docker exec nova-<id> CMD...` (on the cloud's engine, or `on` another host's): its output and exit code. */
export async function execIn(serverId: string, cmd: string[], on: Docker = engine()): Promise<{ output: string; exitCode: number }> {
  const c = on.getContainer(containerNameOf(serverId));
  const exec = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const raw = await collect(stream as unknown as AsyncIterable<Buffer>);
  const info = await exec.inspect();
  return { output: demuxLogs(raw), exitCode: info.ExitCode ?? -1 };
}

/** Containers named nova-* (workloads and sandboxes) whose server does not exist (or is not on our host any more). */
export async function orphanContainers(): Promise<string[]> {
  const list = await engine().listContainers({ all: true, filters: { name: ['nova-'] } });
  const orphans: string[] = [];
  for (const c of list) {
    const name = (c.Names[0] ?? '').replace(/^\//, '');
    const m = /^nova-([0-9a-f-]{36})(-net)?$/.exec(name);
    if (!m) continue;
    if ((await getServer(m[1])) === null) orphans.push(name);
  }
  return orphans;
}

export async function engineImageTagged(ref: string): Promise<boolean> {
  try {
    await engine().getImage(ref).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

export function engineTmp(): string[] {
  return readdirSync(engineTmpDir()).sort();
}

/**
 * Waits (up to 10 s: dockerd removes its docker-import-* dir when its handler notices the cut
 * request) until the engine's tmp dir holds nothing that was not there before; returns the
 * new entries that stayed.
 */
export async function newEngineTmpEntries(before: string[]): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const added = engineTmp().filter((e) => !before.includes(e));
    if (added.length === 0 || Date.now() > deadline) return added;
    await sleep(100);
  }
}

/** Builds a busybox image from a rootfs tar with the given Docker `changes` (CMD ...). */
export async function importRootfsWith(rootfs: Buffer, ref: string, changes: string[]): Promise<string> {
  const [repo, tag] = ref.split(':');
  return importRootfs(engine(), rootfs, repo, tag, changes);
}

// ------------------------------------------------------------------------ nova-container

export function novaContainerPid(): number {
  return Number(readFileSync(NOVA_CONTAINER_PID, 'utf8').trim());
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}


/** The pid of the local cloud's nova-container, null when it does not run. */
export function alivePid(): number | null {
  try {
    const p = novaContainerPid();
    return isAlive(p) ? p : null;
  } catch {
    return null;
  }
}

/**
 * `./devstack/local-cloud.sh restart-compute`. The cloud is shared: another restart may race
 * ours (and stop the process ours just started), so what counts is that a nova-container
 * other than the killed one runs afterwards.
 */
export async function restartCompute(killed: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    let out = '';
    try {
      await localCloud('restart-compute');
    } catch (err) {
      out = String(err);
    }
    for (const until = Date.now() + 20_000; Date.now() < until; await sleep(200)) {
      const p = alivePid();
      if (p && p !== killed) return p;
    }
    if (attempt === 2) throw new Error(`nova-container does not run after restart-compute: ${out}`);
    console.log(`      restart-compute did not leave nova-container running (raced by another restart?): ${out.split('\n')[0]}`);
  }
}

/** Lines of the nova-container log (JSON, one record a line) with msg `msg` and these fields. */
export function logRecords(msg: string, fields: Record<string, unknown> = {}): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(NOVA_CONTAINER_LOG, 'utf8').split('\n')) {
    if (!line.includes(msg)) continue;
    let rec: Record<string, unknown>;
    try { rec = JSON.parse(line) as Record<string, unknown>; } catch { continue; }
    if (rec.msg === msg && Object.entries(fields).every(([k, v]) => rec[k] === v)) out.push(rec);
  }
  return out;
}

// ------------------------------------------------------------------------ what a test created

/**
 * Servers, Glance images, engine images and files a test made, removed by `cleanup()` (in an
 * `after` hook, so also after a failure). Servers go first (their containers hold images).
 */
export class Created {
  readonly servers = new Set<string>();
  readonly images = new Set<string>();
  readonly engineRefs = new Set<string>();
  readonly files = new Set<string>();

  /** A server with no network (POST /servers, or `openstack server create` with `cli`); its id. */
  async boot(name: string, o: BootOptions): Promise<string> {
    if (!o.cli) {
      const id = await bootThroughApi(name, o);
      this.servers.add(id);
      return id;
    }
    const args = ['--os-compute-api-version', o.host ? '2.74' : BOOT_MICROVERSION, 'server', 'create', '--image', o.image, '--flavor', o.flavor ?? 'm1.tiny', '--nic', 'none'];
    if (o.host) args.push('--host', o.host);
    for (const [k, v] of Object.entries(o.properties ?? {})) args.push('--property', `${k}=${v}`);
    if (o.userDataFile) args.push('--user-data', o.userDataFile);
    args.push(name, '-f', 'value', '-c', 'id');
    const id = (await cli(args, o.rc)).trim();
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`server create printed ${id}`);
    this.servers.add(id);
    return id;
  }

  /**
   * `openstack server create --min N --max N` (one request, nova-api casts the N builds
   * together); returns the ids of NAME-1 ... NAME-N.
   */
  async bootMany(name: string, n: number, o: BootOptions): Promise<string[]> {
    const args = ['--os-compute-api-version', BOOT_MICROVERSION, 'server', 'create', '--image', o.image, '--flavor', o.flavor ?? 'm1.tiny', '--nic', 'none',
      '--min', String(n), '--max', String(n), name, '-f', 'value', '-c', 'id'];
    const first = (await cli(args)).trim();
    if (/^[0-9a-f-]{36}$/.test(first)) this.servers.add(first);
    const r = await computeGet<{ servers: { id: string; name: string }[] }>(`/servers?name=${encodeURIComponent(`^${name}-[0-9]+$`)}`);
    for (const s of r.data.servers ?? []) this.servers.add(s.id);
    const byName = new Map((r.data.servers ?? []).map((s) => [s.name, s.id]));
    const ids = Array.from({ length: n }, (_, i) => byName.get(`${name}-${i + 1}`));
    if (ids.some((x) => !x)) throw new Error(`server create --min ${n} made ${JSON.stringify([...byName.keys()])}`);
    return ids as string[];
  }

  /**
   * A public Glance image of `data` (container format docker, disk format raw), as `openstack
   * image create --file` makes it (through Glance's API: test/integration/glance-bridge shows
   * the CLI's), once it is active.
   */
  async uploadImage(name: string, data: Buffer): Promise<string> {
    const made = await rest<{ id?: string }>({ method: 'POST', url: `${GLANCE_URL}/v2/images`, data: { name, container_format: 'docker', disk_format: 'raw', visibility: 'public' } });
    const id = made.data.id;
    if (made.status !== 201 || !id) throw new Error(`POST /v2/images ${name}: HTTP ${made.status} ${JSON.stringify(made.data)}`);
    this.images.add(id);
    const put = await rest({ method: 'PUT', url: `${GLANCE_URL}/v2/images/${id}/file`, data, headers: { 'Content-Type': 'application/octet-stream' }, maxBodyLength: Infinity, timeout: 120_000 });
    if (put.status !== 204) throw new Error(`PUT /v2/images/${id}/file: HTTP ${put.status} ${JSON.stringify(put.data)}`);
    this.engineRefs.add(`glance-image:${id}`);
    await waitForImageActive(id, `image ${name}`, 60_000);
    return id;
  }

  /**
   * `openstack server image create --name NAME SERVER` as `rc`'s user; once the image is active
   * (what `--wait` waits for) and the server's task is over, the image's id.
   */
  async snapshot(server: string, name: string, rc: RcFile = 'openrc', timeoutMs = 300_000): Promise<string> {
    const id = (await cli(['server', 'image', 'create', '--name', name, server, '-f', 'value', '-c', 'id'], rc)).trim();
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`server image create printed ${id}`);
    this.images.add(id);
    this.engineRefs.add(`glance-image:${id}`);
    await waitForImageActive(id, `snapshot ${name} of ${server}`, timeoutMs);
    await waitForServer(server, 'done with the snapshot', (s) => !s?.['OS-EXT-STS:task_state'], 60_000);
    return id;
  }

  async cleanup(): Promise<void> {
    const problems: string[] = [];
    const servers = [...this.servers];
    // Cleanup is not under test: REST deletes, no CLI round trips.
    await Promise.all(servers.map(async (id) => {
      try {
        const r = await compute('DELETE', `/servers/${id}`);
        if (r.status !== 204 && r.status !== 404) problems.push(`delete server ${id}: HTTP ${r.status}`);
        await waitForGone(id, 90_000);
        this.servers.delete(id);
      } catch (err) {
        problems.push(`server ${id}: ${(err as Error).message}`);
      }
    }));
    for (const id of servers) {
      for (const name of [containerNameOf(id), sandboxNameOf(id)]) {
        const c = await engine().getContainer(name).inspect().catch(() => null);
        if (!c) continue;
        problems.push(`container ${name} was left behind by the delete; removing it`);
        await engine().getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      }
    }
    for (const id of [...this.images]) {
      const r = await rest({ method: 'DELETE', url: `${GLANCE_URL}/v2/images/${id}` }).catch((e: unknown) => ({ status: String(e) }));
      if (r.status === 204 || r.status === 404) this.images.delete(id);
      else problems.push(`delete image ${id}: ${r.status}`);
    }
    for (const ref of [...this.engineRefs]) {
      await engine().getImage(ref).remove().catch(() => undefined);
      this.engineRefs.delete(ref);
    }
    for (const f of [...this.files]) {
      rmSync(f, { recursive: true, force: true });
      this.files.delete(f);
    }
    if (problems.length) console.error(`      cleanup: ${problems.join('; ')}`);
  }
}

/**
 * Where an instance's network namespace lives, by what the engine can do. The driver
 * (src/runtime/container-driver.ts) plugs the VIFs into it before the workload starts.
 * - **Sandbox**, on an engine that cannot make a container's namespaces without running it
 *   (Docker): a sandbox container `nova-<uuid>-net` holds the namespace from spawn to destroy,
 *   and the workload joins it. The VIFs outlive the workload's stops and restarts, but for a
 *   release (the source of a move stops the sandbox; the next start plugs it anew).
 * - **Own namespace**, on an engine that can (podman's init, the OCI runtime's create): the
 *   workload's own namespaces are made, the VIFs plugged into them, then it starts. One
 *   container per instance. Like a VM's taps, the VIFs go when it stops and are plugged again
 *   before it starts; a start behind our back gets an empty namespace, which the VIF check mends.
 */
import { readlink } from 'node:fs/promises';
import type { Logger } from '../common/log.js';
import { processNetns } from '../network/vif-plug.js';
import { ImageMissing, type ContainerEngine, type ContainerSpec, type ContainerStatus, type ContainerSummary } from './types.js';
import { LABEL_INSTANCE, LABEL_ROLE, ROLE_SANDBOX, sandboxName, sandboxSpec, workloadName } from './instance-containers.js';
import { ensureSandboxImage } from './sandbox-image.js';

/** The container whose namespace holds the VIFs and whose network files the workload reads. */
export interface NetworkHolder {
  id: string;
  /** Its name, by which the driver writes its network files (no lookup of the name by id). */
  name: string;
  /** A process in the namespace. */
  pid: number;
  hostname: string;
}

/** A holder as a listing shows it: no host name (what a VIF check needs is its process). */
export type ListedHolder = Omit<NetworkHolder, 'hostname'>;

/** What a workload's spec says of its network. */
export type WorkloadNetwork = Pick<ContainerSpec, 'joinNetworkOf' | 'hostname'>;

export interface NetworkHome {
  /** Before the first spawn. */
  init(): Promise<void>;
  /** The names of the containers this home makes an instance of, the workload first (it may join the others). */
  containerNames(uuid: string): string[];
  /**
   * spawn: makes what the workload needs, the workload (`createWorkload`, as soon as it can be
   * made), and the namespace ready to plug, the workload not running.
   */
  make(uuid: string, hostname: string, createWorkload: (network: WorkloadNetwork) => Promise<string>): Promise<{ workload: string; holder: NetworkHolder }>;
  /** rebuild: what a workload made again says of its network, with what it joins there (made again when gone). */
  rebuildNetwork(uuid: string, hostname: string): Promise<WorkloadNetwork>;
  /** The namespace as it is now (a VIF check, an attach, a detach); null when there is none. */
  current(uuid: string): Promise<NetworkHolder | null>;
  /**
   * The namespaces a listing of the host's containers shows, by instance (one without any is
   * not in it); null when the listing cannot tell (it gives no pids). Absent where the holder
   * is a sandbox: only Docker's engine needs one, and its listing gives no pids.
   */
  listed?(listing: ContainerSummary[]): Map<string, ListedHolder> | null;
  /**
   * Before a created or stopped workload starts: its namespace, `fresh` when it is new and
   * empty (to plug). `hostname`: the instance's, when the caller knows it.
   */
  ready(uuid: string, hostname?: string): Promise<{ holder: NetworkHolder; fresh: boolean }>;
  /** Whether a start of the instance's container with these labels brings an empty namespace. */
  startsNetwork(labels: Record<string, string>): boolean;
  /** After a VIF check: a running workload outside the namespace is put back in it. */
  settle(uuid: string, holder: ListedHolder): Promise<void>;
  /** A stopped workload's namespace given up: the next ready() makes it fresh. */
  release(uuid: string): Promise<void>;
}

/** The network namespace of a process (`net:[inode]`); null when it is gone. */
export async function netns(pid: number): Promise<string | null> {
  return readlink(processNetns(pid)).catch(() => null);
}

/**
 * Both results; on a failure, only once the other has settled too, so that a destroy after
 * the failure finds whatever the other made.
 */
async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}

export class SandboxHome implements NetworkHome {
  private image: Promise<string> | null = null;

  /** `sandboxInit`: the static pause binary the sandbox image is made from. */
  constructor(private readonly engine: ContainerEngine, private readonly host: string, private readonly sandboxInit: string,
    private readonly log: Logger) {}

  async init(): Promise<void> {
    await this.imageRef();
  }

  containerNames(uuid: string): string[] {
    return [workloadName(uuid), sandboxName(uuid)];
  }

  /** Made once; a failure is tried again at the next spawn. */
  private imageRef(): Promise<string> {
    this.image ??= ensureSandboxImage(this.engine, this.sandboxInit).catch((err: unknown) => {
      this.image = null;
      throw err;
    });
    return this.image;
  }

  async make(uuid: string, hostname: string, createWorkload: (network: WorkloadNetwork) => Promise<string>): Promise<{ workload: string; holder: NetworkHolder }> {
    // The sandbox starts while the workload, which joins its namespaces and so is made once
    // the sandbox exists, is created with its files.
    const sandboxMade = this.createSandbox(uuid, hostname);
    const [holder, workload] = await both(sandboxMade.then((id) => this.start(id)),
      sandboxMade.then(() => createWorkload({ joinNetworkOf: sandboxName(uuid) })));
    return { workload, holder };
  }

  /** A sandbox that is gone is made again, not started: `ready` starts and plugs it before the workload starts. */
  async rebuildNetwork(uuid: string, hostname: string): Promise<WorkloadNetwork> {
    if (!(await this.engine.inspectContainer(sandboxName(uuid)))) await this.remake(uuid, hostname);
    return { joinNetworkOf: sandboxName(uuid) };
  }

  async current(uuid: string): Promise<NetworkHolder | null> {
    const s = await this.engine.inspectContainer(sandboxName(uuid));
    return s?.state === 'running' && s.pid ? holderOf(s) : null;
  }

  /**
   * One that stopped (the host or the engine restarted without live-restore) starts with a
   * new, empty namespace; one that is gone is made again (the workload names its sandbox, so on
   * Docker it joins the new one).
   */
  async ready(uuid: string, hostname?: string): Promise<{ holder: NetworkHolder; fresh: boolean }> {
    const s = await this.engine.inspectContainer(sandboxName(uuid));
    if (s?.state === 'running' && s.pid) return { holder: holderOf(s), fresh: false };
    if (s) return { holder: await this.start(s.id), fresh: true };
    const name = hostname ?? ((await this.engine.inspectContainer(workloadName(uuid)))?.hostname || uuid);
    return { holder: await this.start(await this.remake(uuid, name)), fresh: true };
  }

  private async remake(uuid: string, hostname: string): Promise<string> {
    this.log.warn({ instance: uuid }, 'the instance\'s network sandbox was gone: made again');
    return this.createSandbox(uuid, hostname);
  }

  /** The sandbox container, its image made again when the engine lost it behind this host's back. */
  private async createSandbox(uuid: string, hostname: string): Promise<string> {
    const used = this.imageRef();
    try {
      return await this.engine.createContainer(sandboxSpec(uuid, hostname, this.host, await used));
    } catch (err) {
      if (!(err instanceof ImageMissing)) throw err;
      if (this.image === used) this.image = null; // spawns that found it gone together share one remake
      this.log.warn({ instance: uuid, image: err.image }, 'the engine refused the sandbox\'s create for want of its image: making it again');
      return this.engine.createContainer(sandboxSpec(uuid, hostname, this.host, await this.imageRef()));
    }
  }

  startsNetwork(labels: Record<string, string>): boolean {
    return labels[LABEL_ROLE] === ROLE_SANDBOX;
  }

  /**
   * A sandbox restarted behind our back holds a new namespace, while a running workload stays
   * in the old one with no way back: it is restarted into the sandbox's, as a VM's NIC reset.
   */
  async settle(uuid: string, sandbox: ListedHolder): Promise<void> {
    const w = await this.engine.inspectContainer(workloadName(uuid));
    if (w?.state !== 'running' || !w.pid) return;
    const [inWorkload, inSandbox] = await Promise.all([netns(w.pid), netns(sandbox.pid)]);
    if (inWorkload === null || inSandbox === null || inWorkload === inSandbox) return; // gone meanwhile, or in place
    this.log.warn({ instance: uuid }, 'the workload ran in a network namespace its sandbox no longer holds: restarting it into the sandbox\'s');
    await this.engine.stopContainer(w.id, 0);
    await this.engine.startContainer(w.id);
  }

  /** The sandbox stopped, its namespace and the VIFs' container ends with it; ready() starts it empty. */
  async release(uuid: string): Promise<void> {
    const s = await this.engine.inspectContainer(sandboxName(uuid));
    if (s?.state === 'running') await this.engine.stopContainer(s.id, 0);
  }

  private async start(id: string): Promise<NetworkHolder> {
    await this.engine.startContainer(id);
    const s = await this.engine.inspectContainer(id);
    if (!s?.pid) throw new Error(`network sandbox ${id} stopped as soon as it started`);
    return holderOf(s);
  }
}

/** An engine that makes a container's namespaces without running it. */
type PreparingEngine = ContainerEngine & Required<Pick<ContainerEngine, 'prepareContainer'>>;

function canPrepare(engine: ContainerEngine): engine is PreparingEngine {
  return typeof engine.prepareContainer === 'function';
}

export class OwnNamespaceHome implements NetworkHome {
  constructor(private readonly engine: PreparingEngine) {}

  async init(): Promise<void> {}

  containerNames(uuid: string): string[] {
    return [workloadName(uuid)];
  }

  async make(uuid: string, hostname: string, createWorkload: (network: WorkloadNetwork) => Promise<string>): Promise<{ workload: string; holder: NetworkHolder }> {
    const workload = await createWorkload({ hostname });
    const pid = await this.engine.prepareContainer(workload, true);
    return { workload, holder: { id: workload, name: workloadName(uuid), pid, hostname } };
  }

  async rebuildNetwork(_uuid: string, hostname: string): Promise<WorkloadNetwork> {
    return { hostname };
  }

  async current(uuid: string): Promise<NetworkHolder | null> {
    const w = await this.engine.inspectContainer(workloadName(uuid));
    return w?.pid ? holderOf(w) : null;
  }

  /** As current(): each workload with a process. */
  listed(listing: ContainerSummary[]): Map<string, ListedHolder> | null {
    const holders = new Map<string, ListedHolder>();
    for (const c of listing) {
      if (c.pid === undefined) return null;
      const uuid = c.labels[LABEL_INSTANCE];
      if (uuid && c.pid && c.labels[LABEL_ROLE] !== ROLE_SANDBOX) holders.set(uuid, { id: c.id, name: c.name, pid: c.pid });
    }
    return holders;
  }

  /** A workload that does not run has no namespace, or one whose plugging is not known: made and plugged anew. */
  async ready(uuid: string): Promise<{ holder: NetworkHolder; fresh: boolean }> {
    const w = await this.engine.inspectContainer(workloadName(uuid));
    if (!w) throw new Error(`instance ${uuid} has no workload to make a network namespace for`);
    if ((w.state === 'running' || w.state === 'paused') && w.pid) return { holder: holderOf(w), fresh: false };
    return { holder: { ...holderOf(w), pid: await this.engine.prepareContainer(w.id) }, fresh: true };
  }

  startsNetwork(): boolean {
    return true;
  }

  async settle(): Promise<void> {}

  /** A stopped workload holds no namespace: nothing to give up. */
  async release(): Promise<void> {}
}

function holderOf(c: ContainerStatus): NetworkHolder {
  return { id: c.id, name: c.name, pid: c.pid, hostname: c.hostname };
}

/** The home an engine's instances get: their own namespace where it can make one without running the container. */
export function networkHomeFor(engine: ContainerEngine, host: string, sandboxInit: string, log: Logger): NetworkHome {
  return canPrepare(engine) ? new OwnNamespaceHome(engine) : new SandboxHome(engine, host, sandboxInit, log);
}

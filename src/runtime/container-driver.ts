/**
 * The instance driver on a container engine (src/nova-driver/instance-driver.ts). An instance
 * is two containers (src/runtime/instance-containers.ts): its network sandbox, which holds the
 * network namespace with the instance's VIFs from spawn to destroy, and its workload, which
 * joins that namespace. Like libvirt's domain created paused, the workload is started only once
 * every VIF is plugged and Neutron has reported it: its first process sees its addresses, host
 * name, /etc/hosts and resolv.conf. Stopping, rebooting, rebuilding, resizing or restarting the
 * workload behind our back leaves the sandbox, so nothing is plugged again.
 */
import { readlink } from 'node:fs/promises';
import type { Logger } from '../common/log.js';
import {
  InstanceMissing, type DestroyReport, type DriverCapabilities, type DriverImage, type HostInfo, type ImageAccess, type InstanceDriver,
  type InstanceInfo, type InstanceLimits, type InstanceSpec, type InstanceWatcher, type SpawnRequest, type VifCheck, type VifDevice, type VifSource, type VirtApi,
} from '../nova-driver/instance-driver.js';
import type { VifModel } from '../network/network-info.js';
import type { VifPluggers } from '../network/pluggers.js';
import { processNetns } from '../network/vif-plug.js';
import { resolvConf } from '../network/resolv-conf.js';
import { hostsFile } from '../network/hosts-file.js';
import type { ContainerEngine, ContainerStatus, ContainerSummary } from './types.js';
import {
  LABEL_HOST, LABEL_INSTANCE, LABEL_ROLE, ROLE_SANDBOX, powerStateOf, sandboxName, sandboxSpec, workloadName, workloadSpec,
} from './instance-containers.js';
import { ensureSandboxImage } from './sandbox-image.js';

export const SNAPSHOT_REPO = 'nova-snapshot';

export interface ContainerDriverOptions {
  host: string;
  /** Name of the engine, reported as the hypervisor type. */
  engineName: string;
  engine: ContainerEngine;
  pluggers: VifPluggers;
  virtApi: VirtApi;
  /** The static pause binary the sandbox image is made from. */
  sandboxInit: string;
  log: Logger;
}

interface RunningSandbox {
  id: string;
  pid: number;
  hostname: string;
}

export class ContainerDriver implements InstanceDriver {
  readonly capabilities: DriverCapabilities = { supportsAttachInterface: true, imageTypes: ['raw'] };
  private sandboxImage: Promise<string> | null = null;
  private readonly engine: ContainerEngine;
  private readonly log: Logger;

  constructor(private readonly o: ContainerDriverOptions) {
    this.engine = o.engine;
    this.log = o.log;
  }

  async init(): Promise<void> {
    // housekeeping: files left over stop no start (the next start tries again)
    try {
      const forgotten = await this.engine.forgetRemovedContainers();
      if (forgotten.length) this.log.info({ forgotten }, 'dropped the engine files of containers removed while the service was down');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not drop the engine files of containers removed while the service was down');
    }
    await this.sandboxImageRef();
  }

  /** Made once; a failure is tried again at the next spawn. */
  private sandboxImageRef(): Promise<string> {
    this.sandboxImage ??= ensureSandboxImage(this.engine, this.o.sandboxInit).catch((err: unknown) => {
      this.sandboxImage = null;
      throw err;
    });
    return this.sandboxImage;
  }

  async hostInfo(): Promise<HostInfo> {
    const info = await this.engine.info();
    // both engines run Docker images through Docker's API; Nova's HVType has 'docker' and not 'podman'
    return { hypervisorType: this.o.engineName, hvType: 'docker', hypervisorVersion: info.version, dataRoot: info.dataRoot };
  }

  async spawn(req: SpawnRequest): Promise<void> {
    const { instance } = req;
    const uuid = instance.uuid;
    const t0 = performance.now();
    req.networkInfo.catch(() => undefined); // awaited below; a rejection before then is not unhandled
    await this.removeContainers(uuid); // the remains of an interrupted earlier attempt
    // The sandbox starts while the image is made ready and the workload, which joins the
    // sandbox's namespaces and so is made once the sandbox exists, is created.
    const sandboxMade = this.sandboxImageRef().then((ref) => this.engine.createContainer(sandboxSpec(uuid, instance.hostname, this.o.host, ref)));
    const [sandbox, workload] = await both(sandboxMade.then((id) => this.startSandbox(id)), (async () => {
      const imageRef = await req.images.ensure(req.image);
      await sandboxMade;
      const id = await this.engine.createContainer(workloadSpec(instance, this.o.host, imageRef, req.image.id, sandboxName(uuid)));
      await this.engine.copyFiles(id, instance.files);
      return id;
    })());
    const prepared = performance.now();
    const vifs = await req.networkInfo;
    const allocated = performance.now();
    const plug = () => this.plugAll(uuid, sandbox, vifs, true);
    if (req.waitForVifs) await this.o.virtApi.waitForVifPlugged(uuid, vifs.filter((v) => !v.active).map((v) => v.id), plug);
    else await plug();
    const networked = performance.now();
    await this.engine.startContainer(workload);
    const ms = (a: number, b: number) => Math.round(b - a);
    this.log.info({
      instance: uuid, container: workload, sandbox: sandbox.id, image: req.image.id,
      // where a spawn's time goes: made (image, sandbox, workload), the manager's ports, plugged and reported, started
      prepare_ms: ms(t0, prepared), ports_wait_ms: ms(prepared, allocated), network_ms: ms(allocated, networked), start_ms: ms(networked, performance.now()),
    }, 'workload started in its network');
  }

  async rebuild(instance: InstanceSpec, image: DriverImage, images: ImageAccess, stopped: boolean, vifs: VifSource, graceSeconds: number): Promise<void> {
    const uuid = instance.uuid;
    const imageRef = await images.ensure(image);
    const old = await this.engine.inspectContainer(workloadName(uuid));
    if (old?.state === 'paused') await this.engine.unpauseContainer(old.id);
    if (old) await this.engine.stopContainer(old.id, graceSeconds);
    await this.engine.removeContainer(workloadName(uuid));
    await this.ensureNetwork(uuid, vifs, instance.hostname);
    const workload = await this.engine.createContainer(workloadSpec(instance, this.o.host, imageRef, image.id, sandboxName(uuid)));
    await this.engine.copyFiles(workload, instance.files);
    if (!stopped) await this.engine.startContainer(workload);
  }

  async destroy(instanceUuid: string, vifs: VifModel[]): Promise<DestroyReport> {
    const report: DestroyReport = { removed: [] };
    const left: string[] = [];
    // The workload first: the sandbox's namespace, and with it the VIFs' container ends, goes last.
    for (const name of [workloadName(instanceUuid), sandboxName(instanceUuid)]) {
      try {
        if (!(await this.engine.inspectContainer(name))) continue;
        await this.engine.removeContainer(name);
        report.removed.push(name);
      } catch (err) {
        left.push(`container ${name} (${(err as Error).message})`);
      }
    }
    // Only the given VIFs' devices: no listing of the host's, whose cost grows with its
    // instances. The kernel deletes a veth pair with either end's namespace, so a Linux bridge
    // tap went with the sandbox; what else is left (a plug a crash cut short, a device of a port
    // not in `vifs`) goes at the VIF check (src/nova-driver/manager/vif-check.ts).
    for (const vif of vifs) {
      try {
        await this.o.pluggers.remove(vif);
      } catch (err) {
        left.push(`device ${vif.devname} (${(err as Error).message})`);
      }
    }
    if (left.length > 0) throw new Error(`could not remove ${left.join(', ')}`);
    return report;
  }

  async powerOff(instanceUuid: string, graceSeconds: number): Promise<void> {
    const w = await this.workload(instanceUuid);
    if (w.state === 'paused') await this.engine.unpauseContainer(w.id); // a frozen process cannot take SIGTERM
    await this.engine.stopContainer(w.id, graceSeconds);
  }

  async powerOn(instanceUuid: string, vifs: VifSource): Promise<void> {
    const w = await this.workload(instanceUuid);
    await this.ensureNetwork(instanceUuid, vifs);
    await this.engine.startContainer(w.id);
  }

  async reboot(instanceUuid: string, hard: boolean, graceSeconds: number, vifs: VifSource): Promise<void> {
    await this.powerOff(instanceUuid, hard ? 0 : graceSeconds);
    await this.powerOn(instanceUuid, vifs);
  }

  async pause(instanceUuid: string): Promise<void> {
    await this.engine.pauseContainer((await this.workload(instanceUuid)).id);
  }

  async unpause(instanceUuid: string): Promise<void> {
    await this.engine.unpauseContainer((await this.workload(instanceUuid)).id);
  }

  async suspend(instanceUuid: string): Promise<void> {
    await this.pause(instanceUuid);
  }

  async resume(instanceUuid: string): Promise<void> {
    await this.unpause(instanceUuid);
  }

  async updateLimits(instanceUuid: string, limits: InstanceLimits): Promise<void> {
    await this.engine.updateLimits((await this.workload(instanceUuid)).id, limits);
  }

  async snapshot(instanceUuid: string, imageId: string, parentImageId: string | null, images: ImageAccess,
    uploading: () => Promise<void>): Promise<void> {
    const w = await this.workload(instanceUuid);
    const ref = `${SNAPSHOT_REPO}:${imageId}`;
    await this.engine.commitContainer(w.id, SNAPSHOT_REPO, imageId);
    try {
      await uploading();
      await images.upload(ref, imageId, parentImageId);
    } finally {
      // The commit's own tag goes; the image itself stays cached under the snapshot's Glance id.
      await this.engine.removeImage(ref).catch((err: unknown) =>
        this.log.warn({ instance: instanceUuid, image: ref, err: (err as Error).message }, 'could not drop the commit tag'));
    }
  }

  async getInfo(instanceUuid: string): Promise<InstanceInfo | null> {
    const w = await this.engine.inspectContainer(workloadName(instanceUuid));
    return w ? infoOf(instanceUuid, w) : null;
  }

  async listInstances(): Promise<InstanceInfo[]> {
    const byUuid = new Map<string, InstanceInfo>();
    for (const c of await this.engine.listContainers({ [LABEL_HOST]: this.o.host })) {
      const uuid = c.labels[LABEL_INSTANCE];
      if (!uuid) continue;
      if (c.labels[LABEL_ROLE] === ROLE_SANDBOX) {
        if (!byUuid.has(uuid)) byUuid.set(uuid, { uuid, state: powerStateOf(null) });
      } else {
        byUuid.set(uuid, infoOf(uuid, c));
      }
    }
    return [...byUuid.values()];
  }

  async consoleOutput(instanceUuid: string, tailLines?: number): Promise<string> {
    return this.engine.containerLogs((await this.workload(instanceUuid)).id, tailLines);
  }

  async plugVifs(instanceUuid: string, vifs: VifModel[]): Promise<VifCheck[] | null> {
    const sandbox = await this.runningSandbox(instanceUuid);
    if (!sandbox) return null;
    const checks: VifCheck[] = [];
    for (const [i, vif] of vifs.entries()) {
      const plugger = this.o.pluggers.find(vif);
      if (!plugger) {
        this.log.warn({ instance: instanceUuid, port: vif.id, vif_type: vif.type }, 'VIF of a type this host cannot plug: left alone');
        checks.push({ port: vif.id, outcome: 'unpluggable' });
        continue;
      }
      const outcome = await plugger.ensure(vif, { netns: processNetns(sandbox.pid), ifname: `eth${i}`, instanceUuid });
      if (outcome !== 'ok') this.log.info({ instance: instanceUuid, port: vif.id, device: vif.devname, outcome }, 'VIF plugged');
      checks.push({ port: vif.id, outcome });
    }
    if (checks.some((c) => c.outcome === 'reattached' || c.outcome === 'replugged')) await this.writeNetworkFiles(sandbox, vifs);
    await this.rejoinSandbox(instanceUuid, sandbox);
    return checks;
  }

  /**
   * A sandbox restarted behind our back holds a new namespace, while a running workload stays
   * in the old one with no way back: it is restarted into the sandbox's, as a VM's NIC reset.
   */
  private async rejoinSandbox(instanceUuid: string, sandbox: RunningSandbox): Promise<void> {
    const w = await this.engine.inspectContainer(workloadName(instanceUuid));
    if (w?.state !== 'running' || !w.pid) return;
    const [inWorkload, inSandbox] = await Promise.all([netns(w.pid), netns(sandbox.pid)]);
    if (inWorkload === null || inSandbox === null || inWorkload === inSandbox) return; // gone meanwhile, or in place
    this.log.warn({ instance: instanceUuid }, 'the workload ran in a network namespace its sandbox no longer holds: restarting it into the sandbox\'s');
    await this.engine.stopContainer(w.id, 0);
    await this.engine.startContainer(w.id);
  }

  async unplugVif(instanceUuid: string, vif: VifModel, remaining: VifModel[]): Promise<void> {
    await this.o.pluggers.remove(vif);
    const sandbox = await this.runningSandbox(instanceUuid);
    if (sandbox) await this.writeNetworkFiles(sandbox, remaining);
  }

  async vifDevices(): Promise<VifDevice[]> {
    const out: VifDevice[] = [];
    for (const p of this.o.pluggers.all) out.push(...await p.plugged());
    return out;
  }

  async removeVifDevice(devname: string): Promise<void> {
    for (const p of this.o.pluggers.all) await p.remove(devname);
  }

  watch(watcher: InstanceWatcher): { close(): void } {
    return this.engine.watchStarts({ [LABEL_HOST]: this.o.host }, {
      started: (_id, attributes) => {
        const uuid = attributes[LABEL_INSTANCE];
        if (uuid) watcher.started(uuid, attributes[LABEL_ROLE] === ROLE_SANDBOX);
      },
      lost: (err) => watcher.lost(err),
      reconnected: () => watcher.reconnected(),
    });
  }

  private async workload(instanceUuid: string): Promise<ContainerStatus> {
    const w = await this.engine.inspectContainer(workloadName(instanceUuid));
    if (!w) throw new InstanceMissing(instanceUuid);
    return w;
  }

  private async startSandbox(id: string): Promise<RunningSandbox> {
    await this.engine.startContainer(id);
    const s = await this.engine.inspectContainer(id);
    if (!s?.pid) throw new Error(`network sandbox ${id} stopped as soon as it started`);
    return { id: s.id, pid: s.pid, hostname: s.hostname };
  }

  private async runningSandbox(instanceUuid: string): Promise<RunningSandbox | null> {
    const s = await this.engine.inspectContainer(sandboxName(instanceUuid));
    return s?.state === 'running' && s.pid ? { id: s.id, pid: s.pid, hostname: s.hostname } : null;
  }

  /**
   * The sandbox running with the VIFs in it. One that stopped (the host or the engine
   * restarted without live-restore) starts with a new, empty namespace and is plugged again;
   * one that is gone is made again (the workload names its sandbox, so on Docker it joins the new
   * one; podman neither lets a sandbox go before its workload nor moves a workload to another).
   * `hostname`: the instance's, when the caller knows it; else the workload's.
   */
  private async ensureNetwork(instanceUuid: string, vifs: VifSource, hostname?: string): Promise<void> {
    const s = await this.engine.inspectContainer(sandboxName(instanceUuid));
    if (s?.state === 'running' && s.pid) return;
    let sandbox: RunningSandbox;
    if (s) {
      sandbox = await this.startSandbox(s.id);
    } else {
      const name = hostname ?? ((await this.engine.inspectContainer(workloadName(instanceUuid)))?.hostname || instanceUuid);
      this.log.warn({ instance: instanceUuid }, 'the instance\'s network sandbox was gone: made again');
      sandbox = await this.startSandbox(await this.engine.createContainer(sandboxSpec(instanceUuid, name, this.o.host, await this.sandboxImageRef())));
    }
    await this.plugAll(instanceUuid, sandbox, await vifs(), false);
  }

  /**
   * Plugs every VIF into a new namespace. `strict` (a spawn) fails on a VIF this host cannot
   * plug; otherwise (the namespace made again) it is skipped and the others still plugged.
   */
  private async plugAll(instanceUuid: string, sandbox: RunningSandbox, vifs: VifModel[], strict: boolean): Promise<void> {
    for (const [i, vif] of vifs.entries()) {
      const plugger = strict ? this.o.pluggers.for(vif) : this.o.pluggers.find(vif);
      if (!plugger) {
        this.log.warn({ instance: instanceUuid, port: vif.id, vif_type: vif.type }, 'VIF of a type this host cannot plug: skipped');
        continue;
      }
      await plugger.plug(vif, { netns: processNetns(sandbox.pid), ifname: `eth${i}`, instanceUuid });
      this.log.info({ instance: instanceUuid, port: vif.id, device: vif.devname, ifname: `eth${i}` }, 'VIF plugged');
    }
    await this.writeNetworkFiles(sandbox, vifs);
  }

  /** The resolver follows the ports' subnets (left as the engine wrote it when they name no DNS); hosts names the addresses. */
  private async writeNetworkFiles(sandbox: RunningSandbox, vifs: VifModel[]): Promise<void> {
    const resolv = resolvConf(vifs);
    if (resolv !== null) await this.engine.setNetworkFile(sandbox.id, 'resolv.conf', resolv);
    await this.engine.setNetworkFile(sandbox.id, 'hosts', hostsFile(sandbox.hostname, vifs));
  }

  /** Both containers, whatever state they are in, the workload first (it joined the sandbox); no-op for what is gone. */
  private async removeContainers(instanceUuid: string): Promise<void> {
    await this.engine.removeContainer(workloadName(instanceUuid));
    await this.engine.removeContainer(sandboxName(instanceUuid));
  }
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

/** The network namespace of a process (`net:[inode]`); null when it is gone. */
async function netns(pid: number): Promise<string | null> {
  return readlink(processNetns(pid)).catch(() => null);
}

function infoOf(uuid: string, c: ContainerSummary): InstanceInfo {
  return { uuid, state: powerStateOf(c), ...(c.state !== 'running' ? { exitCode: c.exitCode } : {}) };
}

/**
 * The instance driver on a container engine (src/nova-driver/instance-driver.ts). An instance
 * is its workload container and the network namespace it runs in, which the engine's network
 * home (src/runtime/network-homes.ts) holds: a sandbox container the workload joins, or the
 * workload's own namespace made before it runs. Like libvirt's domain created paused, the
 * workload is started only once every VIF is plugged and Neutron has reported it: its first
 * process sees its addresses, host name, /etc/hosts and resolv.conf.
 */
import type { Logger } from '../common/log.js';
import {
  ConsoleUnavailable, InstanceMissing, type ConsoleAddress, type DestroyReport, type DriverCapabilities, type DriverImage, type HostInfo, type ImageAccess, type InstanceDriver,
  type InstanceInfo, type InstanceLimits, type InstanceSpec, type InstanceWatcher, type InterruptedCapture, type SpawnRequest, type VifCheck, type VifCheckRound, type VifDevice, type VifSource, type VirtApi,
} from '../nova-driver/instance-driver.js';
import type { VifModel } from '../network/network-info.js';
import type { VifPluggers } from '../network/pluggers.js';
import { processNetns } from '../network/vif-plug.js';
import { resolvConf } from '../network/resolv-conf.js';
import { hostsFile } from '../network/hosts-file.js';
import { ImageMissing, type ContainerEngine, type ContainerSpec, type ContainerStatus, type ContainerSummary } from './types.js';
import { LABEL_HOST, LABEL_INSTANCE, LABEL_ROLE, ROLE_SANDBOX, powerStateOf, sandboxName, workloadName, workloadSpec } from './instance-containers.js';
import { netns, networkHomeFor, type ListedHolder, type NetworkHolder, type NetworkHome } from './network-homes.js';
import type { SerialConsoles } from './serial-consoles.js';

export const SNAPSHOT_REPO = 'nova-snapshot';
/**
 * A capture's commit tag names its instance and its Glance image: one a stop cut short is found
 * again at start-up. Tags made before 2026-12-03 name the image alone.
 */
const captureTag = (c: InterruptedCapture): string => (c.instanceUuid === null ? c.imageId : `${c.instanceUuid}.${c.imageId}`);
function captureOfTag(tag: string): InterruptedCapture | null {
  const m = /^(?:([0-9a-f-]{36})\.)?([0-9a-f-]{36})$/.exec(tag);
  return m ? { instanceUuid: m[1] ?? null, imageId: m[2] } : null;
}

export interface ContainerDriverOptions {
  host: string;
  /** Name of the engine, reported as the hypervisor type. */
  engineName: string;
  engine: ContainerEngine;
  pluggers: VifPluggers;
  virtApi: VirtApi;
  /** The static pause binary the sandbox image is made from. */
  sandboxInit: string;
  /** The instances' serial consoles; null: instances get none ([serial_console] enabled = false). */
  consoles: SerialConsoles | null;
  log: Logger;
}

export class ContainerDriver implements InstanceDriver {
  readonly capabilities: DriverCapabilities = { supportsAttachInterface: true, imageTypes: ['raw'] };
  private readonly engine: ContainerEngine;
  private readonly home: NetworkHome;
  private readonly log: Logger;

  constructor(private readonly o: ContainerDriverOptions) {
    this.engine = o.engine;
    this.log = o.log;
    this.home = networkHomeFor(o.engine, o.host, o.sandboxInit, o.log);
  }

  async init(): Promise<void> {
    // housekeeping: files left over stop no start (the next start tries again)
    try {
      const forgotten = await this.engine.forgetRemovedContainers();
      if (forgotten.length) this.log.info({ forgotten }, 'dropped the engine files of containers removed while the service was down');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not drop the engine files of containers removed while the service was down');
    }
    try {
      const sized = await this.engine.putBackRootDiskRooms();
      if (sized.length) this.log.warn({ subvolumes: sized }, 'root disks given room by a mount the service did not finish have their size again');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'root disks given room by a mount the service did not finish keep it');
    }
    await this.home.init();
    if (this.o.consoles) {
      // one listing, whatever the number of instances
      const instances = new Set((await this.engine.listContainers({ [LABEL_HOST]: this.o.host })).map((c) => c.labels[LABEL_INSTANCE]));
      await this.o.consoles.restore(instances);
    }
  }

  async close(): Promise<void> {
    await this.o.consoles?.close();
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
    const imageRef = req.images.ensure(req.image);
    // settled before a failed spawn rethrows (no download goes on after it); a rejection is handled here, thrown where the workload awaits it
    const imageSettled = imageRef.then(() => undefined, () => undefined);
    // the remains of an interrupted earlier attempt, made as this one makes them, while the image is looked up
    try {
      for (const name of this.home.containerNames(uuid)) await this.engine.removeContainer(name);
    } catch (err) {
      await imageSettled;
      throw err;
    }
    const { workload, holder } = await this.home.make(uuid, instance.hostname,
      (network) => this.createOf(req.image, req.images, imageRef, (ref) => workloadSpec(instance, this.o.host, ref, req.image.id, network, this.o.consoles !== null)),
    ).catch(async (err: unknown) => {
      await imageSettled;
      throw err;
    });
    const prepared = performance.now();
    const vifs = await req.networkInfo;
    const allocated = performance.now();
    const plug = () => this.plugAll(uuid, holder, vifs, true);
    if (req.waitForVifs) await this.o.virtApi.waitForVifPlugged(uuid, vifs.filter((v) => !v.active).map((v) => v.id), plug);
    else await plug();
    const networked = performance.now();
    await this.engine.startContainer(workload);
    const ms = (a: number, b: number) => Math.round(b - a);
    this.log.info({
      instance: uuid, container: workload, ...(holder.id !== workload ? { sandbox: holder.id } : {}), image: req.image.id,
      // where a spawn's time goes: made (image, network namespace, workload), the manager's ports, plugged and reported, started
      prepare_ms: ms(t0, prepared), ports_wait_ms: ms(prepared, allocated), network_ms: ms(allocated, networked), start_ms: ms(networked, performance.now()),
    }, 'workload started in its network');
  }

  async rebuild(instance: InstanceSpec, image: DriverImage, images: ImageAccess, stopped: boolean, vifs: VifSource, graceSeconds: number): Promise<void> {
    const uuid = instance.uuid;
    // asked of the engine, not taken as known: a bad or lost image fails the rebuild before the old workload goes
    const imageRef = await images.ensure(image, true);
    const old = await this.engine.inspectContainer(workloadName(uuid));
    if (old?.state === 'paused') await this.engine.unpauseContainer(old.id);
    if (old) await this.engine.stopContainer(old.id, graceSeconds);
    await this.engine.removeContainer(workloadName(uuid));
    const network = await this.home.rebuildNetwork(uuid, instance.hostname);
    const workload = await this.createOf(image, images, imageRef, (ref) => workloadSpec(instance, this.o.host, ref, image.id, network, this.o.consoles !== null));
    if (!stopped) await this.startInNetwork(uuid, workload, vifs, instance.hostname);
  }

  /**
   * A container of the image `ref` names (what images.ensure gave). One the engine turns out not to
   * have (removed since it was made present, behind this host's back) is made present again.
   */
  private async createOf(image: DriverImage, images: ImageAccess, ref: string | Promise<string>, spec: (ref: string) => ContainerSpec): Promise<string> {
    try {
      return await this.engine.createContainer(spec(await ref));
    } catch (err) {
      if (!(err instanceof ImageMissing)) throw err;
      this.log.warn({ image: image.id, ref: err.image }, 'the engine refused the create for want of the image: making it present again');
      return this.engine.createContainer(spec(await images.ensure(image, true)));
    }
  }

  async destroy(instanceUuid: string, vifs: VifModel[]): Promise<DestroyReport> {
    const report: DestroyReport = { removed: [] };
    const left: string[] = [];
    // The workload first: a sandbox's namespace, and with it the VIFs' container ends, goes last.
    // Both names whatever the home: a podman instance made with a sandbox before instances had
    // their own namespace (src/runtime/README.md) goes whole.
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
    // tap went with the namespace; what else is left (a plug a crash cut short, a device of a port
    // not in `vifs`) goes at the VIF check (src/nova-driver/manager/vif-check.ts).
    for (const vif of vifs) {
      try {
        await this.o.pluggers.remove(vif);
      } catch (err) {
        left.push(`device ${vif.devname} (${(err as Error).message})`);
      }
    }
    try {
      await this.o.consoles?.release(instanceUuid);
    } catch (err) {
      left.push(`serial console (${(err as Error).message})`);
    }
    if (left.length > 0) throw new Error(`could not remove ${left.join(', ')}`);
    return report;
  }

  async powerOff(instanceUuid: string, graceSeconds: number): Promise<void> {
    const w = await this.workload(instanceUuid);
    if (w.state === 'paused') await this.engine.unpauseContainer(w.id); // a frozen process cannot take SIGTERM
    await this.engine.stopContainer(w.id, graceSeconds);
  }

  async releaseNetwork(instanceUuid: string, vifs: VifModel[]): Promise<void> {
    await this.home.release(instanceUuid);
    for (const vif of vifs) await this.o.pluggers.remove(vif);
  }

  async powerOn(instanceUuid: string, vifs: VifSource): Promise<void> {
    await this.startInNetwork(instanceUuid, (await this.workload(instanceUuid)).id, vifs);
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
    const tag = captureTag({ instanceUuid, imageId });
    const ref = `${SNAPSHOT_REPO}:${tag}`;
    await this.engine.commitContainer(w.id, SNAPSHOT_REPO, tag);
    try {
      await uploading();
      await images.upload(ref, imageId, parentImageId);
    } finally {
      // The commit's own tag goes; the image itself stays cached under the snapshot's Glance id.
      await this.engine.removeImage(ref).catch((err: unknown) =>
        this.log.warn({ instance: instanceUuid, image: ref, err: (err as Error).message }, 'could not drop the commit tag'));
    }
  }

  async interruptedCaptures(): Promise<InterruptedCapture[]> {
    return (await this.engine.listImageTags(SNAPSHOT_REPO))
      .map((ref) => captureOfTag(ref.slice(SNAPSHOT_REPO.length + 1)))
      .filter((c): c is InterruptedCapture => c !== null);
  }

  async dropCapture(capture: InterruptedCapture): Promise<void> {
    await this.engine.removeImage(`${SNAPSHOT_REPO}:${captureTag(capture)}`);
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

  async serialConsole(instanceUuid: string): Promise<ConsoleAddress> {
    if (!this.o.consoles) throw new ConsoleUnavailable('this host gives instances no serial console ([serial_console] enabled = false)');
    if (!(await this.workload(instanceUuid)).console) {
      throw new ConsoleUnavailable(`instance ${instanceUuid} was made without a console (before [serial_console] enabled): a rebuild gives it one`);
    }
    const address = await this.o.consoles.address(instanceUuid);
    // a delete that ran meanwhile has released the console already: not a port left listening for it
    if (!(await this.engine.inspectContainer(workloadName(instanceUuid)))) {
      await this.o.consoles.release(instanceUuid);
      throw new InstanceMissing(instanceUuid);
    }
    return address;
  }

  async consoleOutput(instanceUuid: string, tailLines?: number): Promise<string> {
    return this.engine.containerLogs((await this.workload(instanceUuid)).id, tailLines);
  }

  async plugVifs(instanceUuid: string, vifs: VifModel[]): Promise<VifCheck[] | null> {
    return this.plugVifsInto(instanceUuid, vifs, await this.home.current(instanceUuid));
  }

  /** On podman, one listing instead of an inspect per instance; on Docker, whose listing has no pids, the inspects. */
  async vifCheckRound(): Promise<VifCheckRound> {
    const listed = await this.listedHolders();
    return { plugVifs: async (uuid, vifs) => this.plugVifsInto(uuid, vifs, await this.roundHolder(listed, uuid)) };
  }

  /** Where the home can read the namespaces from a listing, the host's as listed; null where each is to be asked. */
  private async listedHolders(): Promise<Map<string, ListedHolder> | null> {
    if (!this.home.listed) return null;
    let listing: ContainerSummary[];
    try {
      listing = await this.engine.listContainers({ [LABEL_HOST]: this.o.host });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not list the host\'s containers for the VIF check: each instance is asked');
      return null;
    }
    return this.home.listed(listing);
  }

  /**
   * The listed holder while its process lives: a stop behind our back since the listing takes
   * no lock, and is asked as the engine has it now.
   */
  private async roundHolder(listed: Map<string, ListedHolder> | null, uuid: string): Promise<NetworkHolder | ListedHolder | null> {
    if (!listed) return this.home.current(uuid);
    const holder = listed.get(uuid);
    if (!holder) return null;
    return (await netns(holder.pid)) !== null ? holder : this.home.current(uuid);
  }

  private async plugVifsInto(instanceUuid: string, vifs: VifModel[], holder: NetworkHolder | ListedHolder | null): Promise<VifCheck[] | null> {
    if (!holder) return null;
    const checks: VifCheck[] = [];
    for (const [i, vif] of vifs.entries()) {
      const plugger = this.o.pluggers.find(vif);
      if (!plugger) {
        this.log.warn({ instance: instanceUuid, port: vif.id, vif_type: vif.type }, 'VIF of a type this host cannot plug: left alone');
        checks.push({ port: vif.id, outcome: 'unpluggable' });
        continue;
      }
      const outcome = await plugger.ensure(vif, { netns: processNetns(holder.pid), ifname: `eth${i}`, instanceUuid });
      if (outcome !== 'ok') this.log.info({ instance: instanceUuid, port: vif.id, device: vif.devname, outcome }, 'VIF plugged');
      checks.push({ port: vif.id, outcome });
    }
    if (checks.some((c) => c.outcome === 'reattached' || c.outcome === 'replugged')) {
      // the hosts file names the host name, which a listing does not give (a mend is rare)
      const named = 'hostname' in holder ? holder : await this.home.current(instanceUuid);
      if (named) await this.writeNetworkFiles(named, vifs);
    }
    await this.home.settle(instanceUuid, holder);
    return checks;
  }

  async unplugVif(instanceUuid: string, vif: VifModel, remaining: VifModel[]): Promise<void> {
    await this.o.pluggers.remove(vif);
    const holder = await this.home.current(instanceUuid);
    if (holder) await this.writeNetworkFiles(holder, remaining);
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
        if (uuid) watcher.started(uuid, this.home.startsNetwork(attributes));
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

  /** Starts a created or stopped workload once its namespace is ready, plugged again when it is new. */
  private async startInNetwork(instanceUuid: string, workload: string, vifs: VifSource, hostname?: string): Promise<void> {
    const { holder, fresh } = await this.home.ready(instanceUuid, hostname);
    if (fresh) await this.plugAll(instanceUuid, holder, await vifs(), false);
    await this.engine.startContainer(workload);
  }

  /**
   * Plugs every VIF into a new namespace. `strict` (a spawn) fails on a VIF this host cannot
   * plug; otherwise (the namespace made again) it is skipped and the others still plugged.
   */
  private async plugAll(instanceUuid: string, holder: NetworkHolder, vifs: VifModel[], strict: boolean): Promise<void> {
    for (const [i, vif] of vifs.entries()) {
      const plugger = strict ? this.o.pluggers.for(vif) : this.o.pluggers.find(vif);
      if (!plugger) {
        this.log.warn({ instance: instanceUuid, port: vif.id, vif_type: vif.type }, 'VIF of a type this host cannot plug: skipped');
        continue;
      }
      await plugger.plug(vif, { netns: processNetns(holder.pid), ifname: `eth${i}`, instanceUuid });
      this.log.info({ instance: instanceUuid, port: vif.id, device: vif.devname, ifname: `eth${i}` }, 'VIF plugged');
    }
    await this.writeNetworkFiles(holder, vifs);
  }

  /** The resolver follows the ports' subnets (left as the engine wrote it when they name no DNS); hosts names the addresses. */
  private async writeNetworkFiles(holder: NetworkHolder, vifs: VifModel[]): Promise<void> {
    const resolv = resolvConf(vifs);
    if (resolv !== null) await this.engine.setNetworkFile(holder.name, 'resolv.conf', resolv);
    await this.engine.setNetworkFile(holder.name, 'hosts', hostsFile(holder.hostname, vifs));
  }
}

function infoOf(uuid: string, c: ContainerSummary): InstanceInfo {
  return { uuid, state: powerStateOf(c), ...(c.state !== 'running' ? { exitCode: c.exitCode } : {}) };
}

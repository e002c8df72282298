/**
 * The instance driver contract (src/nova-driver/instance-driver.ts) in memory: per instance
 * whether it exists, its power state, whether its network sandbox exists and its VIFs. A
 * missing instance is InstanceMissing, as the contract says; any method can be hooked or made
 * to fail (Fake).
 */
import {
  InstanceMissing, PowerState, type ConsoleAddress, type DestroyReport, type DriverCapabilities, type DriverImage, type HostInfo, type ImageAccess,
  type InstanceDriver, type InstanceInfo, type InstanceLimits, type InstanceSpec, type InstanceWatcher, type InterruptedCapture, type SpawnRequest, type VifCheck, type VifCheckRound, type VifDevice,
  type VifSource, type VirtApi,
} from '../../src/nova-driver/instance-driver.js';
import type { VifModel } from '../../src/network/network-info.js';
import { Fake } from './fake.js';

export interface FakeInstance {
  state: PowerState;
  /** Its network sandbox exists (VIFs can be plugged). */
  sandbox: boolean;
  vifs: VifModel[];
  imageId?: string;
  limits?: InstanceLimits;
}

export interface FakeDriverOptions {
  /** What spawn plugs through when the request waits for VIFs; without it nothing is awaited. */
  virtApi?: VirtApi;
  /** Told once the VIFs are plugged (e.g. to play Neutron reporting them). */
  plugged?: (instanceUuid: string, vifs: VifModel[]) => void;
}

export class FakeDriver extends Fake<InstanceDriver> implements InstanceDriver {
  readonly capabilities: DriverCapabilities = { supportsAttachInterface: true, imageTypes: ['docker'] };
  readonly instances = new Map<string, FakeInstance>();
  readonly removedDevices: string[] = [];
  /** Captures a snapshot cut short left behind (the engine's commit tags). */
  captures: InterruptedCapture[] = [];
  watcher: InstanceWatcher | null = null;

  constructor(private readonly options: FakeDriverOptions = {}) {
    super();
  }

  /** An instance the host already runs. */
  add(uuid: string, init: Partial<FakeInstance> = {}): FakeInstance {
    const inst: FakeInstance = { state: PowerState.RUNNING, sandbox: true, vifs: [], ...init };
    this.instances.set(uuid, inst);
    return inst;
  }

  async init(): Promise<void> {
    await this.enter('init');
  }

  async close(): Promise<void> {
    await this.enter('close');
  }

  async hostInfo(): Promise<HostInfo> {
    await this.enter('hostInfo');
    return { hypervisorType: 'fake', hvType: 'fake', hypervisorVersion: '1.0', dataRoot: '/var/lib/fake' };
  }

  async spawn(req: SpawnRequest): Promise<void> {
    req.networkInfo.catch(() => undefined); // awaited below, as the real driver does
    await this.enter('spawn', req);
    await req.images.ensure(req.image);
    const inst = this.add(req.instance.uuid, { state: PowerState.NOSTATE, imageId: req.image.id });
    const vifs = await req.networkInfo;
    const plug = async (): Promise<void> => {
      inst.vifs = vifs;
      this.options.plugged?.(req.instance.uuid, vifs);
    };
    if (req.waitForVifs && this.options.virtApi) {
      await this.options.virtApi.waitForVifPlugged(req.instance.uuid, vifs.filter((v) => !v.active).map((v) => v.id), plug);
    } else {
      await plug();
    }
    inst.state = PowerState.RUNNING;
  }

  async rebuild(instance: InstanceSpec, image: DriverImage, images: ImageAccess, stopped: boolean, vifs: VifSource, graceSeconds: number): Promise<void> {
    await this.enter('rebuild', instance, image, images, stopped, vifs, graceSeconds);
    const inst = this.existing(instance.uuid);
    await images.ensure(image);
    inst.imageId = image.id;
    inst.state = stopped ? PowerState.SHUTDOWN : PowerState.RUNNING;
  }

  async destroy(instanceUuid: string, vifs: VifModel[]): Promise<DestroyReport> {
    await this.enter('destroy', instanceUuid, vifs);
    const existed = this.instances.delete(instanceUuid);
    return { removed: existed ? [`instance ${instanceUuid}`] : [] };
  }

  async powerOff(instanceUuid: string, graceSeconds: number): Promise<void> {
    await this.enter('powerOff', instanceUuid, graceSeconds);
    this.existing(instanceUuid).state = PowerState.SHUTDOWN;
  }

  async powerOn(instanceUuid: string, vifs: VifSource): Promise<void> {
    await this.enter('powerOn', instanceUuid, vifs);
    await this.start(this.existing(instanceUuid), vifs);
  }

  async reboot(instanceUuid: string, hard: boolean, graceSeconds: number, vifs: VifSource): Promise<void> {
    await this.enter('reboot', instanceUuid, hard, graceSeconds, vifs);
    await this.start(this.existing(instanceUuid), vifs);
  }

  async pause(instanceUuid: string): Promise<void> {
    await this.enter('pause', instanceUuid);
    this.existing(instanceUuid).state = PowerState.PAUSED;
  }

  async unpause(instanceUuid: string): Promise<void> {
    await this.enter('unpause', instanceUuid);
    this.existing(instanceUuid).state = PowerState.RUNNING;
  }

  async suspend(instanceUuid: string): Promise<void> {
    await this.enter('suspend', instanceUuid);
    this.existing(instanceUuid).state = PowerState.PAUSED; // a frozen instance, as the contract reports it
  }

  async resume(instanceUuid: string): Promise<void> {
    await this.enter('resume', instanceUuid);
    this.existing(instanceUuid).state = PowerState.RUNNING;
  }

  async updateLimits(instanceUuid: string, limits: InstanceLimits): Promise<void> {
    await this.enter('updateLimits', instanceUuid, limits);
    this.existing(instanceUuid).limits = limits;
  }

  async snapshot(instanceUuid: string, imageId: string, parentImageId: string | null, images: ImageAccess,
    uploading: () => Promise<void>): Promise<void> {
    await this.enter('snapshot', instanceUuid, imageId, parentImageId, images, uploading);
    this.existing(instanceUuid);
    await uploading();
    await images.upload(`snapshot:${imageId}`, imageId, parentImageId);
  }

  async interruptedCaptures(): Promise<InterruptedCapture[]> {
    await this.enter('interruptedCaptures');
    return [...this.captures];
  }

  async dropCapture(capture: InterruptedCapture): Promise<void> {
    await this.enter('dropCapture', capture);
    this.captures = this.captures.filter((c) => c.instanceUuid !== capture.instanceUuid || c.imageId !== capture.imageId);
  }

  async getInfo(instanceUuid: string): Promise<InstanceInfo | null> {
    await this.enter('getInfo', instanceUuid);
    const inst = this.instances.get(instanceUuid);
    return inst ? this.info(instanceUuid, inst) : null;
  }

  async listInstances(): Promise<InstanceInfo[]> {
    await this.enter('listInstances');
    return [...this.instances].map(([uuid, inst]) => this.info(uuid, inst));
  }

  /** Each instance's console on port 10000 + its index among the host's instances. */
  async serialConsole(instanceUuid: string): Promise<ConsoleAddress> {
    await this.enter('serialConsole', instanceUuid);
    this.existing(instanceUuid);
    return { host: '127.0.0.1', port: 10000 + [...this.instances.keys()].indexOf(instanceUuid) };
  }

  async consoleOutput(instanceUuid: string, tailLines?: number): Promise<string> {
    await this.enter('consoleOutput', instanceUuid, tailLines);
    this.existing(instanceUuid);
    return `console of ${instanceUuid}`;
  }

  async plugVifs(instanceUuid: string, vifs: VifModel[]): Promise<VifCheck[] | null> {
    await this.enter('plugVifs', instanceUuid, vifs);
    const inst = this.instances.get(instanceUuid);
    if (!inst?.sandbox) return null;
    const had = new Set(inst.vifs.map((v) => v.id));
    inst.vifs = vifs;
    return vifs.map((v) => ({ port: v.id, outcome: had.has(v.id) ? 'ok' : 'replugged' }));
  }

  async vifCheckRound(): Promise<VifCheckRound> {
    return { plugVifs: (uuid, vifs) => this.plugVifs(uuid, vifs) };
  }

  async unplugVif(instanceUuid: string, vif: VifModel, remaining: VifModel[]): Promise<void> {
    await this.enter('unplugVif', instanceUuid, vif, remaining);
    this.existing(instanceUuid).vifs = remaining;
  }

  async vifDevices(): Promise<VifDevice[]> {
    await this.enter('vifDevices');
    return [...this.instances].flatMap(([uuid, inst]) => inst.vifs.map((v) => ({ devname: v.devname, instanceUuid: uuid })));
  }

  async removeVifDevice(devname: string): Promise<void> {
    await this.enter('removeVifDevice', devname);
    this.removedDevices.push(devname);
  }

  watch(watcher: InstanceWatcher): { close(): void } {
    this.calls.push({ method: 'watch', args: [watcher] });
    this.watcher = watcher;
    return { close: () => { this.watcher = null; } };
  }

  private existing(uuid: string): FakeInstance {
    const inst = this.instances.get(uuid);
    if (!inst) throw new InstanceMissing(uuid);
    return inst;
  }

  async releaseNetwork(instanceUuid: string, vifs: VifModel[]): Promise<void> {
    await this.enter('releaseNetwork', instanceUuid, vifs);
    const inst = this.existing(instanceUuid);
    inst.sandbox = false;
    inst.vifs = [];
  }

  /** A start makes the network again first when its sandbox is gone, from the VIFs asked only then. */
  private async start(inst: FakeInstance, vifs: VifSource): Promise<void> {
    if (!inst.sandbox) {
      inst.vifs = await vifs();
      inst.sandbox = true;
    }
    inst.state = PowerState.RUNNING;
  }

  private info(uuid: string, inst: FakeInstance): InstanceInfo {
    return { uuid, state: inst.state, ...(inst.imageId ? { imageId: inst.imageId } : {}) };
  }
}

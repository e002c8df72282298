/**
 * The container engine as the rest of nova-container sees it: containers and images named by
 * what Nova knows (instance uuid, Glance image id), nothing of Docker's API. Like Nova's
 * nova/virt/driver.py, each method says what it must do and what it may raise.
 */
import type { Duplex, Readable } from 'node:stream';
import type { InstanceLimits } from '../nova-driver/instance-driver.js';

export interface EngineInfo {
  /** e.g. "20.10.24" */
  version: string;
  apiVersion: string;
  /** The engine's data root on the host; its file system holds images and containers. */
  dataRoot: string;
  storageDriver: string;
}

/** A create refused because the engine does not have the image it names. */
export class ImageMissing extends Error {
  constructor(readonly image: string, message: string) {
    super(message);
    this.name = 'ImageMissing';
  }
}

/** A container's resource limits: an instance's (src/nova-driver/instance-driver.ts), each one optional. */
export type ContainerLimits = Partial<InstanceLimits>;

export interface ContainerSpec {
  name: string;
  /** Image id or reference already present in the engine. */
  image: string;
  labels: Record<string, string>;
  /** Not with `joinNetworkOf`: a container that joins another's network has that one's host name. */
  hostname?: string;
  /** Values are never logged. */
  env?: Record<string, string>;
  /** Replaces the image's command; the image's entrypoint is kept. */
  command?: string[];
  /**
   * The container (name or id) whose network namespace, host name, /etc/hosts and resolv.conf
   * (and user namespace, where the engine gives each container one) this one shares; it must
   * exist when this one is created, and run when this one starts. Absent: a namespace of its
   * own with only loopback.
   */
  joinNetworkOf?: string;
  /** Resource limits; each one absent is none. */
  limits: ContainerLimits;
  /** The engine's init as the first process, reaping zombies and passing signals on (default true). */
  init?: boolean;
  /**
   * Files the container finds at these paths (absolute and normal) from its first start, owned
   * by its root: copied into its file system (Docker), or mounted read-only from the engine's
   * files (podman, whose copy into a container starts a process of its own), each directory
   * that holds one whole, so what the image has there is hidden.
   */
  files?: ContainerFile[];
  /**
   * A TTY and a stdin held open for an attach (an instance's serial console,
   * src/runtime/serial-consoles.ts): its first process reads what a console client types, and
   * what it writes goes raw (a TTY's CRLF) to the client and to its log.
   */
  console?: boolean;
}

/** The engine's files that make up a container's view of its network (kept across restarts). */
export type NetworkFile = 'resolv.conf' | 'hosts';

export interface ContainerFile {
  /** Absolute path inside the container. */
  path: string;
  content: Buffer | string;
  mode?: number;
}

export type ContainerRunState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerStatus {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  state: ContainerRunState;
  /** Host pid of the container's first process (0 when not running). */
  pid: number;
  exitCode: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** Limits as the engine applied them (0: none). */
  nanoCpus: number;
  memoryBytes: number;
  pidsLimit: number;
  hostname: string;
  env: string[];
  command: string[];
  /** Made with a TTY and an open stdin (ContainerSpec.console). */
  console: boolean;
}

/**
 * What a listing of the engine tells of each container; `pid` only where the listing gives it
 * (podman's own listing does, Docker's does not).
 */
export type ContainerSummary = Pick<ContainerStatus, 'id' | 'name' | 'image' | 'labels' | 'state' | 'exitCode'> & { pid?: number };

export interface ImageInfo {
  id: string;
  tags: string[];
  /** Layer digests (RootFS.Layers), shared between images that share layers. */
  layers: string[];
  labels: Record<string, string>;
  command: string[];
  entrypoint: string[];
  sizeBytes: number;
}

/** What a watch on container starts reports. */
export interface StartWatcher {
  /** A container carrying the watched labels started (its labels are the event's attributes). */
  started(containerId: string, attributes: Record<string, string>): void;
  /** The watch broke (the engine went away); it keeps trying. */
  lost(err: Error): void;
  /** The watch is back after it broke: starts may have been missed, the engine may have restarted. */
  reconnected(): void;
}

export interface EngineWatch {
  close(): void;
}

export interface ContainerEngine {
  info(): Promise<EngineInfo>;
  /**
   * Drops what this client keeps beside the engine for containers that are gone (removed while
   * the service was down); called at start, before any container is made. What it dropped.
   */
  forgetRemovedContainers(): Promise<string[]>;
  /**
   * Gives containers whose mount a service that died had given room above their root disk size
   * that size again; called at start, before this service mounts any. Their ids.
   */
  putBackRootDiskRooms(): Promise<string[]>;

  /**
   * Creates (does not start) a container with its files; throws if the name is taken, the
   * image is missing (ImageMissing) or a file cannot be put there (then no container is left).
   */
  createContainer(spec: ContainerSpec): Promise<string>;
  /**
   * Makes a created or stopped container's namespaces and first process without running it
   * (the OCI runtime's create), so that what is put in its network namespace is there when it
   * starts; that process's host pid. Absent: the engine cannot, and an instance's network
   * namespace is held by a sandbox container (src/runtime/network-homes.ts). `created`: the
   * container is the one createContainer has just returned, so it has no process nor any run.
   */
  prepareContainer?(id: string, created?: boolean): Promise<number>;
  /** Starts a created, prepared or stopped container; no-op if it runs. */
  startContainer(id: string): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceSeconds`; no-op if it is not running. */
  stopContainer(id: string, graceSeconds: number): Promise<void>;
  /** Changes a container's limits in place (running or not); an absent one is left as it is. */
  updateLimits(id: string, limits: ContainerLimits): Promise<void>;
  pauseContainer(id: string): Promise<void>;
  unpauseContainer(id: string): Promise<void>;
  /**
   * Replaces what the container reads as /etc/resolv.conf or /etc/hosts (the engine's own copy
   * for this container, which a restart keeps, and which containers joining its network share).
   * By id or name; by name, an engine that keys these files by name need not look it up.
   */
  setNetworkFile(idOrName: string, file: NetworkFile, content: string): Promise<void>;
  /** Reports the starts of containers carrying all `labels` until closed. */
  watchStarts(labels: Record<string, string>, watcher: StartWatcher): EngineWatch;
  /** Force-removes; no-op if it does not exist. A container others joined goes after them. */
  removeContainer(id: string): Promise<void>;
  /** By id or name; null if there is no such container. */
  inspectContainer(idOrName: string): Promise<ContainerStatus | null>;
  /**
   * Containers (running or not) carrying all the given labels, as one listing of the engine
   * reports them (no inspect per container: its cost must not grow by a call per container).
   */
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
  /**
   * A two-way byte stream to the TTY of a running container made with `console`: what is
   * written goes to its first process's stdin, what it writes comes back. Ending the stream
   * leaves the container and its stdin as they were. Throws EngineError when it was made
   * without one or does not run.
   */
  attachConsole(id: string): Promise<Duplex>;
  /** stdout and stderr interleaved as the container wrote them; the last `tailLines` if given. */
  containerLogs(id: string, tailLines?: number): Promise<string>;
  /** Commits the container's file system as a new image `repo:tag`; returns the image id. */
  commitContainer(id: string, repo: string, tag: string, labels?: Record<string, string>): Promise<string>;

  /** null if there is no such image. */
  inspectImage(ref: string): Promise<ImageInfo | null>;
  /** Tags (`repo:tag`) of the images in repository `repo`. */
  listImageTags(repo: string): Promise<string[]>;
  /** Makes image `repo:tag` of one layer, the root file system tar `rootfs`, with that entrypoint. */
  importImage(rootfs: Readable, repo: string, tag: string, entrypoint: string[]): Promise<void>;
  /** Loads a `docker save` archive; returns the ids/refs the engine reports as loaded. */
  loadImage(archive: Readable): Promise<string[]>;
  /** A `docker save` archive of the image, streamed. */
  saveImage(ref: string): Promise<Readable>;
  tagImage(ref: string, repo: string, tag: string): Promise<void>;
  /** Removes the image (and the layers only it used); no-op if it does not exist. */
  removeImage(ref: string): Promise<void>;
}

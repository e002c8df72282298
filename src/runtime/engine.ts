/**
 * The container engine behind one narrow interface. Implemented on the Docker Engine API
 * (dockerd from docker.io, API 1.41) through dockerode, which speaks the engine's HTTP API
 * over its unix socket. The rest of nova-container knows nothing of Docker.
 */
import Docker from 'dockerode';

export interface EngineInfo {
  /** e.g. "20.10.24" */
  version: string;
  apiVersion: string;
  /** Engine's data root on the host (its file system holds images and containers). */
  dataRoot: string;
  containersRunning: number;
  storageDriver: string;
}

export interface ContainerEngine {
  info(): Promise<EngineInfo>;
}

export class EngineUnavailable extends Error {
  constructor(endpoint: string, cause: unknown) {
    super(`container engine at ${endpoint} unreachable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'EngineUnavailable';
  }
}

/** `unix:///run/docker.sock` or `http://127.0.0.1:2375`. */
export function dockerOptions(endpoint: string): Docker.DockerOptions {
  const url = new URL(endpoint);
  if (url.protocol === 'unix:') return { socketPath: url.pathname };
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    return { host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 2376 : 2375)), protocol: url.protocol.slice(0, -1) as 'http' | 'https' };
  }
  throw new Error(`unsupported engine endpoint ${endpoint}: use unix:///path or http://host:port`);
}

export class DockerEngine implements ContainerEngine {
  private readonly docker: Docker;

  constructor(private readonly endpoint: string, timeoutMs = 30000) {
    this.docker = new Docker({ ...dockerOptions(endpoint), timeout: timeoutMs });
  }

  async info(): Promise<EngineInfo> {
    try {
      const [version, info] = await Promise.all([this.docker.version(), this.docker.info()]);
      return {
        version: version.Version,
        apiVersion: version.ApiVersion,
        dataRoot: String(info.DockerRootDir),
        containersRunning: Number(info.ContainersRunning ?? 0),
        storageDriver: String(info.Driver),
      };
    } catch (err) {
      throw new EngineUnavailable(this.endpoint, err);
    }
  }
}

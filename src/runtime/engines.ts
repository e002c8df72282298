/**
 * The container engines instances can run on, by `[container] driver`: a new engine is one
 * ContainerEngine module and a line here.
 */
import type { Logger } from '../common/log.js';
import { join } from 'node:path';
import { DockerEngine } from './docker-engine.js';
import { PodmanEngine } from './podman-engine.js';
import type { ContainerEngine } from './types.js';

/** `statePath`: the service's state directory, where an engine keeps files of its own. */
const ENGINES: Record<string, (endpoint: string, statePath: string, log: Logger) => ContainerEngine> = {
  docker: (endpoint, _statePath, log) => new DockerEngine(endpoint, undefined, log),
  podman: (endpoint, statePath, log) => new PodmanEngine(endpoint, join(statePath, 'podman'), '', undefined, log),
};

export const ENGINE_NAMES = Object.keys(ENGINES);

export function createEngine(name: string, endpoint: string, statePath: string, log: Logger): ContainerEngine {
  const make = ENGINES[name];
  if (!make) throw new Error(`unknown [container] driver ${name}: one of ${ENGINE_NAMES.join(', ')}`);
  return make(endpoint, statePath, log);
}

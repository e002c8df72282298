/**
 * The container engines instances can run on, by `[container] driver`: a new engine is one
 * ContainerEngine module and a line here.
 */
import type { Logger } from '../common/log.js';
import { join } from 'node:path';
import { DockerEngine } from './docker-engine.js';
import { PodmanEngine } from './podman-engine.js';
import type { ContainerEngine } from './types.js';

export interface EngineSettings {
  /** The engine's API ([container] engine_socket). */
  endpoint: string;
  /** The service's state directory, where an engine keeps files of its own. */
  statePath: string;
  /** [container] podman_userns_remap */
  podmanUsernsRemap: string;
}

const ENGINES: Record<string, (s: EngineSettings, log: Logger) => ContainerEngine> = {
  docker: (s, log) => new DockerEngine(s.endpoint, undefined, log),
  podman: (s, log) => new PodmanEngine(s.endpoint, join(s.statePath, 'podman'), s.podmanUsernsRemap, undefined, log),
};

export const ENGINE_NAMES = Object.keys(ENGINES);

export function createEngine(name: string, settings: EngineSettings, log: Logger): ContainerEngine {
  const make = ENGINES[name];
  if (!make) throw new Error(`unknown [container] driver ${name}: one of ${ENGINE_NAMES.join(', ')}`);
  return make(settings, log);
}

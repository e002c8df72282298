/**
 * The container engines instances can run on, by `[container] driver`: a new engine is one
 * ContainerEngine module and a line here.
 */
import type { Logger } from '../common/log.js';
import { DockerEngine } from './docker-engine.js';
import type { ContainerEngine } from './types.js';

const ENGINES: Record<string, (endpoint: string, log: Logger) => ContainerEngine> = {
  docker: (endpoint, log) => new DockerEngine(endpoint, undefined, log),
};

export const ENGINE_NAMES = Object.keys(ENGINES);

export function createEngine(name: string, endpoint: string, log: Logger): ContainerEngine {
  const make = ENGINES[name];
  if (!make) throw new Error(`unknown [container] driver ${name}: one of ${ENGINE_NAMES.join(', ')}`);
  return make(endpoint, log);
}

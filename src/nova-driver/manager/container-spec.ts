/**
 * How an instance becomes a container: named and labelled by its uuid so it is always found
 * again, limits from its flavor, command from the image's `os_command_line` (nova-docker's
 * convention), environment from the server's metadata.
 *
 * Metadata -> environment rules: every metadata key that is a valid environment variable
 * name (letters, digits and `_`, not starting with a digit) becomes a variable with the
 * metadata value; other keys are skipped. Values are never logged.
 */
import type { ContainerSpec } from '../../runtime/types.js';
import type { NovaObject } from '../objects/versioned-object.js';

export const LABEL_INSTANCE = 'org.openstack.nova.instance-uuid';
export const LABEL_HOST = 'org.openstack.nova.host';
export const LABEL_IMAGE = 'org.openstack.glance.image-id';

export function containerName(instanceUuid: string): string {
  return `nova-${instanceUuid}`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function environmentFrom(metadata: Record<string, unknown>): { env: Record<string, string>; skipped: string[] } {
  const env: Record<string, string> = {};
  const skipped: string[] = [];
  for (const [k, v] of Object.entries(metadata)) {
    if (ENV_NAME.test(k) && typeof v === 'string') env[k] = v;
    else skipped.push(k);
  }
  return { env, skipped };
}

/** POSIX-shell-like word splitting (quotes and backslashes), as nova-docker's shlex.split did. */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = null; else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c; inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i]; inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) { words.push(word); word = ''; inWord = false; }
    } else {
      word += c; inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in os_command_line`);
  if (inWord) words.push(word);
  return words;
}

export interface SpecInput {
  instance: NovaObject;
  host: string;
  imageRef: string;
  glanceImageId: string;
  /** The image's properties (Glance dict or the instance's image_* system metadata). */
  imageProperties: Record<string, unknown>;
  /** The flavor to apply (new flavor during a resize). */
  flavor?: NovaObject | null;
}

export function containerSpec(input: SpecInput): ContainerSpec {
  const inst = input.instance;
  const uuid = inst.str('uuid');
  const flavor = input.flavor ?? inst.obj('flavor');
  const vcpus = Number(flavor?.get('vcpus') ?? inst.get('vcpus') ?? 1);
  const memoryMb = Number(flavor?.get('memory_mb') ?? inst.get('memory_mb') ?? 0);
  const metadata = (inst.get('metadata') ?? {}) as Record<string, unknown>;
  const commandLine = input.imageProperties.os_command_line;
  return {
    name: containerName(uuid),
    image: input.imageRef,
    hostname: (inst.optStr('hostname') ?? uuid).slice(0, 63),
    labels: { [LABEL_INSTANCE]: uuid, [LABEL_HOST]: input.host, [LABEL_IMAGE]: input.glanceImageId },
    env: environmentFrom(metadata).env,
    ...(typeof commandLine === 'string' && commandLine.trim() !== '' ? { command: splitCommandLine(commandLine) } : {}),
    vcpus,
    memoryMb,
  };
}

/** The image properties Nova keeps in system_metadata as `image_<name>`. */
export function imagePropertiesFromSystemMetadata(sysmeta: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(sysmeta)) if (k.startsWith('image_')) out[k.slice('image_'.length)] = v;
  return out;
}

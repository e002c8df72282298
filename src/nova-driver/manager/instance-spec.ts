/**
 * An Instance object as the instance driver sees it (src/nova-driver/instance-driver.ts):
 * limits from its flavor (flavor-limits.ts), command from the image's `os_command_line` (nova-docker's
 * convention), metadata, host name and the files a config drive would carry.
 */
import type { InstanceLimits, InstanceSpec } from '../instance-driver.js';
import type { NovaObject } from '../objects/versioned-object.js';
import { instanceFiles } from './instance-files.js';
import { flavorLimits, type LimitsPolicy } from './flavor-limits.js';

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

/** A flavor object (or an Instance's own copies of its fields) as the limits it sets. */
export function limitsOf(flavor: NovaObject | null, inst: NovaObject, policy: LimitsPolicy): InstanceLimits {
  return flavorLimits({
    vcpus: Number(flavor?.get('vcpus') ?? inst.get('vcpus') ?? 1),
    memoryMb: Number(flavor?.get('memory_mb') ?? inst.get('memory_mb') ?? 0),
    rootGb: Number(flavor?.get('root_gb') ?? inst.get('root_gb') ?? 0),
    extraSpecs: (flavor?.get('extra_specs') ?? {}) as Record<string, string>,
  }, policy);
}

/** `imageProperties`: the properties of the image it boots (imagePropertiesOf). */
export function instanceSpec(inst: NovaObject, imageProperties: Record<string, unknown>, policy: LimitsPolicy): InstanceSpec {
  const uuid = inst.str('uuid');
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries((inst.get('metadata') ?? {}) as Record<string, unknown>)) if (typeof v === 'string') metadata[k] = v;
  const commandLine = imageProperties.os_command_line;
  return {
    uuid,
    hostname: (inst.optStr('hostname') ?? uuid).slice(0, 63),
    limits: limitsOf(inst.obj('flavor'), inst, policy),
    metadata,
    ...(typeof commandLine === 'string' && commandLine.trim() !== '' ? { command: splitCommandLine(commandLine) } : {}),
    files: instanceFiles(inst),
  };
}

/** Nova's build request nests an image's properties; a Glance v2 record has them at the top level. */
export function imagePropertiesOf(image: { properties?: Record<string, unknown> } & Record<string, unknown>): Record<string, unknown> {
  return image.properties ?? image;
}

/** What the kernel holds a process to: a value of its cgroup (v1, this machine's hierarchy). */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The content of `file` in the cgroup of `controller` that process `pid` is in, trimmed. */
export function cgroupValue(pid: number, controller: string, file: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(controller));
  assert.ok(line, `process ${pid} is in a ${controller} cgroup`);
  const [, hierarchy, path] = line.split(':');
  return readFileSync(join('/sys/fs/cgroup', hierarchy, path, file), 'utf8').trim();
}

/**
 * A file the engine modules keep beside the engine (a kept limit, a root disk's quota record,
 * the consoles' ports), written whole or not at all: a reader, or a restart after a crash
 * mid-write, finds the old content or the new, never part of it.
 */
import { rename, writeFile } from 'node:fs/promises';

export async function writeWhole(path: string, content: string, mode: number): Promise<void> {
  await writeFile(`${path}.new`, content, { mode });
  await rename(`${path}.new`, path);
}

/**
 * The image of every network sandbox, made on this host from a static pause binary
 * (`[container] sandbox_init`, Debian's catatonit, run as `catatonit -P`), as podman makes its
 * pause image from catatonit: nothing is pulled from a registry. The tag is the binary's
 * digest, so a new binary gives a new image and running sandboxes keep theirs.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import type { ContainerEngine } from './types.js';

export const SANDBOX_REPO = 'nova-container/sandbox';
const BINARY = 'pause';

export class SandboxImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxImageError';
  }
}

/** Makes the sandbox image present in the engine; returns its reference. */
export async function ensureSandboxImage(engine: ContainerEngine, initPath: string): Promise<string> {
  let binary: Buffer;
  try {
    binary = await readFile(initPath);
  } catch (err) {
    throw new SandboxImageError(`cannot read [container] sandbox_init ${initPath} (install Debian's catatonit): ${(err as Error).message}`);
  }
  const tag = createHash('sha256').update(binary).digest('hex').slice(0, 16);
  const ref = `${SANDBOX_REPO}:${tag}`;
  if (await engine.inspectImage(ref)) return ref;
  const tar = pack();
  tar.entry({ name: BINARY, mode: 0o755 }, binary);
  tar.finalize();
  await engine.importImage(Readable.from(tar as AsyncIterable<Buffer>), SANDBOX_REPO, tag, [`/${BINARY}`, '-P']);
  return ref;
}

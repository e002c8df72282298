/**
 * Errors of the Glance bridge. Each says which image and what went wrong in words an operator
 * (or a Nova instance fault) can use; `cause` keeps the lower-level error.
 */

/** Any failed Glance call that is not a missing image. */
export class GlanceError extends Error {
  constructor(message: string, readonly statusCode?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GlanceError';
  }
}

/** Glance answered 404 for this image (deleted, or not visible to the token's project). */
export class ImageNotFound extends GlanceError {
  constructor(readonly imageId: string) {
    super(`Image ${imageId} could not be found in Glance.`, 404);
    this.name = 'ImageNotFound';
  }
}

/** The image record is fine but not usable here (status, container format). */
export class ImageNotUsable extends Error {
  constructor(readonly imageId: string, reason: string) {
    super(`Image ${imageId} cannot be used as a container image: ${reason}`);
    this.name = 'ImageNotUsable';
  }
}

/** The downloaded data is not a loadable container image archive (or is unsafe to load). */
export class InvalidImageArchive extends Error {
  constructor(readonly reason: string, readonly imageId?: string) {
    super(imageId ? `Image ${imageId} holds no valid container image archive: ${reason}` : `invalid image archive: ${reason}`);
    this.name = 'InvalidImageArchive';
  }
}

/** The data does not match the size or hashes Glance recorded for the image. */
export class ImageVerificationFailed extends Error {
  constructor(readonly imageId: string, readonly what: string, readonly expected: string, readonly actual: string) {
    super(`Image ${imageId} failed verification: ${what} is ${actual}, Glance recorded ${expected}`);
    this.name = 'ImageVerificationFailed';
  }
}

export type ImportStage = 'base' | 'download' | 'load' | 'tag';

/** A delta snapshot's base image is not in Glance for the caller (deleted, or not visible to their project). */
export class BaseImageMissing extends Error {
  constructor(readonly imageId: string, readonly baseImageId: string) {
    super(`Delta snapshot ${imageId} needs base image ${baseImageId}, which Glance does not show this project (deleted?)`);
    this.name = 'BaseImageMissing';
  }
}

/**
 * ensureImage failed; `cause` is one of the errors above or an engine/Glance error. At stage
 * `base` the message names the base image that failed and why, and no more: Nova keeps 255
 * characters of a fault, and a chain of bases would repeat every id.
 */
export class ImageImportFailed extends Error {
  constructor(readonly imageId: string, readonly stage: ImportStage, cause: unknown) {
    super(ImageImportFailed.describe(imageId, stage, cause), { cause });
    this.name = 'ImageImportFailed';
  }

  private static describe(imageId: string, stage: ImportStage, cause: unknown): string {
    if (stage === 'base') {
      if (cause instanceof ImageImportFailed && cause.stage !== 'base') {
        return `Delta snapshot ${imageId}: its base image ${cause.imageId} failed (${cause.stage}): ${messageOf(cause.cause)}`;
      }
      if (cause instanceof ImageImportFailed || cause instanceof BaseImageMissing) return cause.message;
    }
    return `Import of image ${imageId} failed (${stage}): ${messageOf(cause)}`;
  }
}

export type SnapshotStage = 'inspect' | 'prepare' | 'save' | 'upload' | 'confirm';

/** SnapshotExporter.export failed; the caller deletes the Glance image (Nova's delete_image_on_error). */
export class SnapshotUploadFailed extends Error {
  constructor(readonly glanceImageId: string, readonly stage: SnapshotStage, cause: unknown) {
    super(`Snapshot upload to image ${glanceImageId} failed (${stage}): ${messageOf(cause)}`, { cause });
    this.name = 'SnapshotUploadFailed';
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The innermost ImageNotFound in a cause chain, if any (for the manager's "user deleted it" path). */
export function findImageNotFound(err: unknown): ImageNotFound | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ImageNotFound) return e;
  }
  return undefined;
}

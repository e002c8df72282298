/**
 * The Glance bridge as the compute manager uses it: token sources, the Glance client, image
 * import into the container engine and snapshot export. Nothing here knows Nova's RPC or
 * objects; callers pass plain values (a token + catalog, Nova's image dict, ids).
 */
export { KeystoneSession, KeystoneError } from './keystone.js';
export {
  type GlanceTokenSource, ServiceTokenSource, UserTokenSource, userTokenSourceFromContext, normalizeImageEndpoint,
  type UserTokenOptions, type V2CatalogEntry,
} from './token-source.js';
export { GlanceClient, type GlanceClientOptions, type GlanceImage, type ImageDownload, type PatchOp } from './glance-client.js';
export {
  ImageImporter, type EnsuredImage, type GlanceImageMeta, type ImportStats, type ImporterOptions, type ReleaseResult,
} from './importer.js';
export {
  SnapshotExporter, SNAPSHOT_PROPERTIES, type ExportStats, type ExporterOptions, type SnapshotProps, type SnapshotResult,
} from './exporter.js';
export { rewriteImageArchive, type ImageArchiveSummary } from './archive.js';
export {
  BaseImageMissing, GlanceError, ImageNotFound, ImageNotUsable, InvalidImageArchive, ImageVerificationFailed, ImageImportFailed,
  SnapshotUploadFailed, findImageNotFound,
} from './errors.js';

/**
 * Glance for the compute manager, through the glance-bridge: images for builds (importer),
 * snapshots back to Glance (exporter), image records. Like nova-compute, calls use the
 * user's token from the request when there is one (so the user's view of Glance applies);
 * contexts this host makes itself use the service credentials of [glance].
 */
import {
  GlanceClient, ImageNotFound, userTokenSourceFromContext, type GlanceImage, type GlanceTokenSource, type ImageImporter,
  type SnapshotExporter, type UserTokenOptions,
} from '../../glance-bridge/index.js';
import type { RequestContext } from '../../messaging/types.js';
import type { GlanceImageMeta, ImageProvider } from './deps.js';

export class GlanceImages implements ImageProvider {
  constructor(private readonly importer: ImageImporter, private readonly exporter: SnapshotExporter,
    private readonly serviceSource: GlanceTokenSource | null,
    private readonly userOptions: Omit<UserTokenOptions, 'authToken' | 'serviceCatalog'>) {}

  sourceFor(ctx: RequestContext): GlanceTokenSource {
    if (typeof ctx.auth_token === 'string' && ctx.auth_token) return userTokenSourceFromContext(ctx, this.userOptions);
    if (!this.serviceSource) throw new Error('no user token in the request and no [glance] service credentials configured');
    return this.serviceSource;
  }

  async ensureImage(ctx: RequestContext, image: GlanceImageMeta, recheck = false): Promise<string> {
    return (await this.importer.ensureImage(this.sourceFor(ctx), image, recheck)).ref;
  }

  /** null when Glance has no such image (any more). */
  async getImage(ctx: RequestContext, imageId: string): Promise<GlanceImage | null> {
    try {
      return await new GlanceClient(this.sourceFor(ctx)).getImage(imageId);
    } catch (err) {
      if (err instanceof ImageNotFound) return null;
      throw err;
    }
  }

  async createImage(ctx: RequestContext, fields: Record<string, unknown>): Promise<string> {
    return (await new GlanceClient(this.sourceFor(ctx)).createImage(fields)).id;
  }

  async deleteImage(ctx: RequestContext, imageId: string): Promise<void> {
    await new GlanceClient(this.sourceFor(ctx)).deleteImage(imageId);
  }

  async uploadSnapshot(ctx: RequestContext, engineRef: string, glanceImageId: string, parentImageId: string | null, whole: boolean): Promise<void> {
    await this.exporter.export(this.sourceFor(ctx), engineRef, glanceImageId, { ...(parentImageId ? { parentImageId } : {}), whole });
  }

}

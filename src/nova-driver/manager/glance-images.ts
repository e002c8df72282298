/**
 * Images for builds, from Glance through the glance-bridge importer. Like nova-compute, the
 * download uses the user's token from the request when there is one (so the user's view of
 * Glance applies); contexts this host makes itself use the service credentials of [glance].
 */
import { userTokenSourceFromContext, type GlanceTokenSource, type ImageImporter, type UserTokenOptions } from '../../glance-bridge/index.js';
import type { RequestContext } from '../rpc/types.js';
import type { GlanceImageMeta, ImageProvider } from './deps.js';

export class GlanceImages implements ImageProvider {
  constructor(private readonly importer: ImageImporter, private readonly serviceSource: GlanceTokenSource | null,
    private readonly userOptions: Omit<UserTokenOptions, 'authToken' | 'serviceCatalog'>) {}

  sourceFor(ctx: RequestContext): GlanceTokenSource {
    if (typeof ctx.auth_token === 'string' && ctx.auth_token) return userTokenSourceFromContext(ctx, this.userOptions);
    if (!this.serviceSource) throw new Error('no user token in the request and no [glance] service credentials configured');
    return this.serviceSource;
  }

  async ensureImage(ctx: RequestContext, image: GlanceImageMeta): Promise<string> {
    return (await this.importer.ensureImage(this.sourceFor(ctx), image)).ref;
  }
}

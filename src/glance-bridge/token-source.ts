/**
 * Who a Glance call is made as. Nova makes image calls either as the service itself
 * (credentials in nova.conf, here a KeystoneSession built from the [glance] group) or as the
 * user whose request it serves (the token and v2-style catalog inside the RPC context,
 * `_context_auth_token` / `_context_service_catalog`, nova/context.py `_ContextAuthPlugin`).
 * Both give request headers and Glance's unversioned endpoint.
 */
import type { KeystoneSession } from './keystone.js';
import { GlanceError } from './errors.js';

export interface GlanceTokenSource {
  /** 'service' or 'user', for logs and errors. */
  readonly kind: 'service' | 'user';
  /** Headers that authenticate one request: X-Auth-Token (and X-Service-Token when configured). */
  authHeaders(): Promise<Record<string, string>>;
  /** Glance's unversioned endpoint, without a trailing slash or `/v2`. */
  imageEndpoint(): Promise<string>;
  /**
   * Called after Glance answered 401: forget what can be renewed. True when a retry with new
   * headers may succeed (a service token can be renewed once; a user token cannot).
   */
  unauthorized(): boolean;
}

/** Glance endpoints are registered unversioned; strip a `/v2` (or `/v2/`) the way Nova does. */
export function normalizeImageEndpoint(url: string): string {
  let u = url.trim().replace(/\/+$/, '');
  u = u.replace(/\/v2(\.\d+)?$/, '');
  return u.replace(/\/+$/, '');
}

/** The service's own credentials: token cached and renewed by the session, catalog from it. */
export class ServiceTokenSource implements GlanceTokenSource {
  readonly kind = 'service' as const;

  constructor(private readonly session: KeystoneSession, private readonly endpointOverride?: string) {}

  async authHeaders(): Promise<Record<string, string>> {
    const token = await this.session.getToken();
    return { 'X-Auth-Token': token.id };
  }

  async imageEndpoint(): Promise<string> {
    return normalizeImageEndpoint(this.endpointOverride ?? await this.session.endpoint('image'));
  }

  unauthorized(): boolean {
    this.session.invalidate();
    return true;
  }
}

/** One entry of the catalog nova-api puts in RPC contexts (Keystone v2 shape). */
export interface V2CatalogEntry {
  type: string;
  name?: string;
  endpoints: Array<{ region?: string | null; publicURL?: string; internalURL?: string; adminURL?: string }>;
}

export interface UserTokenOptions {
  authToken: string;
  serviceCatalog: V2CatalogEntry[];
  /** Preferred interfaces, as [glance] valid_interfaces (Nova's default: internal, public). */
  interfaces?: Array<'internal' | 'public' | 'admin'>;
  regionName?: string;
  /** [glance] endpoint_override / api_servers: wins over the catalog. */
  endpointOverride?: string;
  /**
   * Nova's `[service_user] send_service_user_token`: sends X-Service-Token so Glance accepts
   * the user's token after it expired during a long transfer.
   */
  serviceSession?: KeystoneSession;
}

const INTERFACE_KEY = { internal: 'internalURL', public: 'publicURL', admin: 'adminURL' } as const;

/** A user's token and catalog from an RPC context. The user token cannot be renewed here. */
export class UserTokenSource implements GlanceTokenSource {
  readonly kind = 'user' as const;

  constructor(private readonly opts: UserTokenOptions) {
    if (!opts.authToken) throw new GlanceError('the request context carries no auth token for Glance');
  }

  async authHeaders(): Promise<Record<string, string>> {
    const headers: Record<string, string> = { 'X-Auth-Token': this.opts.authToken };
    if (this.opts.serviceSession) headers['X-Service-Token'] = (await this.opts.serviceSession.getToken()).id;
    return headers;
  }

  async imageEndpoint(): Promise<string> {
    if (this.opts.endpointOverride) return normalizeImageEndpoint(this.opts.endpointOverride);
    const entry = this.opts.serviceCatalog.find((e) => e.type === 'image');
    if (!entry) throw new GlanceError('no image service in the request context\'s service catalog');
    const interfaces = this.opts.interfaces ?? ['internal', 'public'];
    const region = this.opts.regionName;
    for (const iface of interfaces) {
      const ep = entry.endpoints.find((e) => (!region || e.region === region) && e[INTERFACE_KEY[iface]]);
      const url = ep?.[INTERFACE_KEY[iface]];
      if (url) return normalizeImageEndpoint(url);
    }
    throw new GlanceError(`no image endpoint for interfaces ${interfaces.join(',')}${region ? ` in region ${region}` : ''} in the request context's catalog`);
  }

  /** A 401 may come from an expired service token; renew that once. The user token stays as is. */
  unauthorized(): boolean {
    if (!this.opts.serviceSession) return false;
    this.opts.serviceSession.invalidate();
    return true;
  }
}

/**
 * The user token source for an RPC context as oslo.messaging delivers it: either the raw
 * message (`_context_auth_token`, `_context_service_catalog`) or an unpacked context
 * (`auth_token`, `service_catalog`).
 */
export function userTokenSourceFromContext(
  ctx: Record<string, unknown>,
  options: Omit<UserTokenOptions, 'authToken' | 'serviceCatalog'> = {},
): UserTokenSource {
  const token = ctx._context_auth_token ?? ctx.auth_token;
  const catalog = ctx._context_service_catalog ?? ctx.service_catalog ?? [];
  if (typeof token !== 'string' || !token) throw new GlanceError('the request context carries no auth token for Glance');
  if (!Array.isArray(catalog)) throw new GlanceError('the request context\'s service catalog is not a list');
  const entries: V2CatalogEntry[] = [];
  for (const raw of catalog as unknown[]) {
    if (!raw || typeof raw !== 'object') continue;
    const r = raw as { type?: unknown; name?: unknown; endpoints?: unknown };
    if (typeof r.type !== 'string' || !Array.isArray(r.endpoints)) continue;
    entries.push({
      type: r.type,
      ...(typeof r.name === 'string' ? { name: r.name } : {}),
      endpoints: (r.endpoints as unknown[]).filter((e): e is V2CatalogEntry['endpoints'][number] => !!e && typeof e === 'object'),
    });
  }
  return new UserTokenSource({ ...options, authToken: token, serviceCatalog: entries });
}

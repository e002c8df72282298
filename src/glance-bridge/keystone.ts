/**
 * Keystone v3 authentication for service clients (Placement, Glance, Neutron): password or
 * application credential, token cached and renewed before it expires, endpoints looked up in
 * the token's service catalog by type, interface and region.
 */
import axios, { type AxiosInstance } from 'axios';
import type { Logger } from '../common/log.js';
import type { KeystoneAuthGroup } from '../config/types.js';

interface CatalogEndpoint { interface: string; region?: string | null; region_id?: string | null; url: string }
interface CatalogEntry { type: string; name?: string; endpoints: CatalogEndpoint[] }
interface TokenBody { token: { expires_at: string; catalog?: CatalogEntry[] } }

export interface Token {
  id: string;
  expiresAt: Date;
  catalog: CatalogEntry[];
}

export class KeystoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeystoneError';
  }
}

/** Renew when less than this many ms of validity are left. */
const RENEW_MARGIN_MS = 5 * 60 * 1000;

export class KeystoneSession {
  private token: Token | null = null;
  private pending: Promise<Token> | null = null;
  private readonly http: AxiosInstance;

  constructor(private readonly auth: KeystoneAuthGroup, private readonly log: Logger) {
    if (!auth.auth_url) throw new KeystoneError('no auth_url configured');
    this.http = axios.create({ timeout: auth.timeout * 1000 });
  }

  /** A valid token, fetching a new one when none is cached or it is about to expire. */
  async getToken(): Promise<Token> {
    if (this.token && this.token.expiresAt.getTime() - Date.now() > RENEW_MARGIN_MS) return this.token;
    this.pending ??= this.authenticate().finally(() => { this.pending = null; });
    this.token = await this.pending;
    return this.token;
  }

  /** Forget the cached token (after a 401 from a service). */
  invalidate(): void {
    this.token = null;
  }

  /** The service's endpoint: endpoint_override, else the catalog by interface order and region. */
  async endpoint(serviceType: string): Promise<string> {
    if (this.auth.endpoint_override) return this.auth.endpoint_override.replace(/\/+$/, '');
    const token = await this.getToken();
    const entry = token.catalog.find((e) => e.type === serviceType);
    if (!entry) throw new KeystoneError(`no ${serviceType} service in the Keystone catalog`);
    const region = this.auth.region_name;
    for (const iface of this.auth.valid_interfaces) {
      const ep = entry.endpoints.find((e) => e.interface === iface
        && (!region || e.region_id === region || e.region === region));
      if (ep) return ep.url.replace(/\/+$/, '');
    }
    throw new KeystoneError(`no ${serviceType} endpoint for interfaces ${this.auth.valid_interfaces.join(',')}`
      + `${region ? ` in region ${region}` : ''}`);
  }

  private async authenticate(): Promise<Token> {
    const base = this.auth.auth_url!.replace(/\/+$/, '');
    const url = `${/\/v3$/.test(base) ? base : `${base}/v3`}/auth/tokens`;
    let res;
    try {
      res = await this.http.post<TokenBody>(url, { auth: this.authBody() }, { validateStatus: () => true });
    } catch (err) {
      throw new KeystoneError(`Keystone at ${url} unreachable: ${(err as Error).message}`);
    }
    if (res.status !== 201) {
      throw new KeystoneError(`Keystone refused authentication for ${this.auth.username ?? this.auth.application_credential_id}: HTTP ${res.status}`);
    }
    const id = res.headers['x-subject-token'];
    if (typeof id !== 'string') throw new KeystoneError('Keystone answered without X-Subject-Token');
    this.log.debug({ expires_at: res.data.token.expires_at }, 'obtained Keystone token');
    return { id, expiresAt: new Date(res.data.token.expires_at), catalog: res.data.token.catalog ?? [] };
  }

  private authBody(): Record<string, unknown> {
    const a = this.auth;
    const isAppCred = a.auth_type === 'v3applicationcredential' || a.auth_type === 'applicationcredential';
    if (isAppCred) {
      if (!a.application_credential_id || !a.application_credential_secret) {
        throw new KeystoneError('application credential auth needs application_credential_id and application_credential_secret');
      }
      return {
        identity: {
          methods: ['application_credential'],
          application_credential: { id: a.application_credential_id, secret: a.application_credential_secret },
        },
      };
    }
    if (!a.username || a.password === undefined) throw new KeystoneError('password auth needs username and password');
    const userDomain = a.user_domain_id ? { id: a.user_domain_id } : { name: a.user_domain_name ?? 'Default' };
    const projectDomain = a.project_domain_id ? { id: a.project_domain_id } : { name: a.project_domain_name ?? 'Default' };
    return {
      identity: { methods: ['password'], password: { user: { name: a.username, domain: userDomain, password: a.password } } },
      ...(a.project_name ? { scope: { project: { name: a.project_name, domain: projectDomain } } } : {}),
    };
  }
}

/**
 * Compute RPC handlers that concern the host rather than an instance
 * (nova/compute/manager.py set_host_enabled, get_host_uptime) and the `baseapi` ping.
 */
import { loadavg, uptime } from 'node:os';
import type { Endpoint, RequestContext } from '../messaging/types.js';

export interface HostControl {
  /** Adds or removes COMPUTE_STATUS_DISABLED on this host's resource provider. */
  setDisabled(ctx: RequestContext, disabled: boolean): Promise<void>;
}

export function hostHandlers(host: HostControl): Endpoint['handlers'] {
  return {
    async set_host_enabled(ctx, args) {
      const enabled = args.enabled === true;
      await host.setDisabled(ctx, !enabled);
      return enabled ? 'enabled' : 'disabled';
    },
    async get_host_uptime() {
      return uptimeText(new Date(), uptime(), loadavg());
    },
  };
}

/** nova's `baseapi` namespace (nova/baserpc.py): ping answers with the service name and the arg. */
export function baseApiEndpoint(serviceName: string): Endpoint {
  return {
    namespace: 'baseapi',
    version: '1.1',
    handlers: {
      async ping(_ctx, args) {
        return { service: serviceName, arg: args.arg ?? null };
      },
    },
  };
}

/** What `uptime` prints, which is what Nova's drivers return: " 10:01:02 up 3 days,  4:05,  0 users,  load average: ..." */
export function uptimeText(now: Date, upSeconds: number, load: number[]): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const clock = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
  const days = Math.floor(upSeconds / 86400);
  const hours = Math.floor((upSeconds % 86400) / 3600);
  const minutes = Math.floor((upSeconds % 3600) / 60);
  const dayPart = days > 0 ? `${days} day${days === 1 ? '' : 's'}, ` : '';
  const timePart = hours > 0 ? `${String(hours).padStart(2, ' ')}:${pad(minutes)}` : `${minutes} min`;
  return ` ${clock} up ${dayPart}${timePart},  0 users,  load average: ${load.slice(0, 3).map((l) => l.toFixed(2)).join(', ')}`;
}

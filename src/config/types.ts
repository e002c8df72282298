/** The validated configuration, one interface per oslo.config group (see options.ts). */
import type { RabbitOptions } from '../messaging/options.js';
import type { PluggerSettings } from '../network/pluggers.js';

export interface DefaultGroup {
  transport_url: string;
  host: string;
  my_ip: string;
  control_exchange: string;
  state_path: string;
  report_interval: number;
  rpc_response_timeout: number;
  executor_thread_pool_size: number;
  rpc_ping_enabled: boolean;
  update_resources_interval: number;
  instance_delete_interval: number;
  scheduler_instance_sync_interval: number;
  sync_power_state_interval: number;
  shutdown_timeout: number;
  graceful_shutdown_timeout: number;
  shelved_offload_time: number;
  vif_plugging_timeout: number;
  vif_plugging_is_fatal: boolean;
  reserved_host_cpus: number;
  reserved_host_memory_mb: number;
  reserved_host_disk_mb: number;
  cpu_allocation_ratio?: number;
  ram_allocation_ratio?: number;
  disk_allocation_ratio?: number;
  initial_cpu_allocation_ratio: number;
  initial_ram_allocation_ratio: number;
  initial_disk_allocation_ratio: number;
  debug: boolean;
}

/** [oslo_messaging_rabbit]: the messaging layer's own option table (src/messaging/options.ts). */
export type RabbitGroup = RabbitOptions;

export interface KeystoneAuthGroup {
  auth_type?: string;
  auth_url?: string;
  username?: string;
  password?: string;
  project_name?: string;
  user_domain_name?: string;
  user_domain_id?: string;
  project_domain_name?: string;
  project_domain_id?: string;
  application_credential_id?: string;
  application_credential_secret?: string;
  region_name?: string;
  valid_interfaces: string[];
  endpoint_override?: string;
  timeout: number;
}

export interface ContainerGroup {
  /** The engine instances run on (src/runtime/engines.ts). */
  driver: string;
  engine_socket: string;
  /** podman: the host ids every container's user namespace maps 0.. to, `first:count`; '' none. */
  podman_userns_remap: string;
  sandbox_init: string;
  remove_orphans: boolean;
  /** Operator endpoints (/healthz, /metrics): host:port, or '' for none. */
  health_listen: string;
  /** `auto` or a Nova service version to report (src/nova-driver/service-version.ts). */
  service_version: string;
  snapshot_delta_depth: number;
  pids_per_vcpu: number;
  enforce_root_disk: boolean;
  reserved_host_cpus?: number;
  reserved_host_memory_mb?: number;
  reserved_host_disk_mb?: number;
  cpu_allocation_ratio?: number;
  ram_allocation_ratio?: number;
  disk_allocation_ratio?: number;
}

export interface Config {
  DEFAULT: DefaultGroup;
  oslo_messaging_rabbit: RabbitGroup;
  placement: KeystoneAuthGroup;
  glance: KeystoneAuthGroup;
  neutron: KeystoneAuthGroup & { ovs_bridge: string };
  service_user: KeystoneAuthGroup;
  keystone_authtoken: KeystoneAuthGroup;
  filter_scheduler: { track_instance_changes: boolean };
  os_vif_ovs: { ovsdb_connection?: string; ovs_vsctl_timeout: number };
  image_cache: { manager_interval: number; remove_unused_base_images: boolean; remove_unused_original_minimum_age_seconds: number };
  serial_console: { enabled: boolean; port_range: string; base_url: string; proxyclient_address: string };
  consoleauth: { token_ttl: number };
  container: ContainerGroup;
}

/** Reserves and ratios as the host reports them: [container] wins over [DEFAULT]. */
export interface ResourcePolicy {
  reservedCpus: number;
  reservedMemoryMb: number;
  reservedDiskMb: number;
  /** Unset: keep what Placement has, or the initial ratio for a new provider. */
  cpuRatio?: number;
  ramRatio?: number;
  diskRatio?: number;
  initialCpuRatio: number;
  initialRamRatio: number;
  initialDiskRatio: number;
}

export function resourcePolicy(config: Config): ResourcePolicy {
  const d = config.DEFAULT;
  const c = config.container;
  return {
    reservedCpus: c.reserved_host_cpus ?? d.reserved_host_cpus,
    reservedMemoryMb: c.reserved_host_memory_mb ?? d.reserved_host_memory_mb,
    reservedDiskMb: c.reserved_host_disk_mb ?? d.reserved_host_disk_mb,
    cpuRatio: c.cpu_allocation_ratio ?? d.cpu_allocation_ratio,
    ramRatio: c.ram_allocation_ratio ?? d.ram_allocation_ratio,
    diskRatio: c.disk_allocation_ratio ?? d.disk_allocation_ratio,
    initialCpuRatio: d.initial_cpu_allocation_ratio,
    initialRamRatio: d.initial_ram_allocation_ratio,
    initialDiskRatio: d.initial_disk_allocation_ratio,
  };
}

/**
 * Credentials for one service client: its own group when it names an auth_url, else
 * [service_user], else [keystone_authtoken] (where many nova.conf files keep them).
 * Catalog settings (region, interfaces, endpoint override, timeout) always come from the
 * service's own group.
 */
export function serviceAuth(config: Config, service: 'placement' | 'glance' | 'neutron'): KeystoneAuthGroup {
  const own = config[service];
  const source = [own, config.service_user, config.keystone_authtoken].find((g) => g.auth_url) ?? own;
  return {
    ...source,
    region_name: own.region_name ?? source.region_name,
    valid_interfaces: own.valid_interfaces,
    endpoint_override: own.endpoint_override,
    timeout: own.timeout,
  };
}

/** The VIF pluggers' settings. */
export function pluggerSettings(config: Config): PluggerSettings {
  return {
    host: config.DEFAULT.host,
    ovs: { bridge: config.neutron.ovs_bridge, ovsdbConnection: config.os_vif_ovs.ovsdb_connection, vsctlTimeoutSeconds: config.os_vif_ovs.ovs_vsctl_timeout },
  };
}

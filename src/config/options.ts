/**
 * Every option nova-container reads, in oslo.config's groups. Names follow Nova's own options
 * so an operator's existing nova.conf works unchanged; `[container]` holds what is ours.
 * oslo.messaging's options come from the messaging layer's own tables (src/messaging/options.ts),
 * which also checks them. The sample file etc/nova-container.conf.sample is generated from this table.
 */
import { hostname } from 'node:os';
import { ENGINE_NAMES } from '../runtime/engines.js';
import { MESSAGING_DEFAULT_OPTION_DEFS, messagingOptions, RABBIT_OPTION_DEFS, type OptionDef, type RabbitOptions } from '../messaging/options.js';
import { parseTransportUrl } from '../messaging/transport-url.js';
import { DEFAULT_PODMAN_USERNS_REMAP, podmanUserns } from '../runtime/podman-engine.js';
import { HIGHEST_SERVICE_VERSION, LOWEST_SERVICE_VERSION, parseServiceVersionOption } from '../nova-driver/service-version.js';

export type { OptionType } from '../messaging/options.js';

/** `[serial_console] port_range`, start:stop: the first port, and the one after the last. */
export function parsePortRange(v: string): [number, number] {
  const m = /^(\d+):(\d+)$/.exec(v);
  const [start, stop] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(start >= 1 && start < stop && stop <= 65536)) throw new Error('must be start:stop, two port numbers with start below stop');
  return [start, stop];
}

export interface OptionSpec extends OptionDef {
  required?: boolean;
  /** Further checks of a string value: throws an Error saying what is wrong (without the value). */
  check?: (value: string) => void;
}

/** The values of every group, as the loader has converted them. */
export type RawConfig = Record<string, Record<string, unknown>>;

export interface GroupSpec {
  name: string;
  help: string;
  options: readonly OptionSpec[];
  /** Rules across options: throws an Error with `option` naming the culprit (of this group or [DEFAULT]). */
  check?: (values: Record<string, unknown>, all: RawConfig) => void;
}

/** One of oslo.messaging's [DEFAULT] options, with what nova-container changes about it. */
function messagingDefault(name: typeof MESSAGING_DEFAULT_OPTION_DEFS[number]['name'], change: Partial<OptionSpec> = {}): OptionSpec {
  const def = MESSAGING_DEFAULT_OPTION_DEFS.find((d) => d.name === name) as OptionDef;
  return { ...def, ...change };
}

/** Keystone credentials as keystoneauth's password and application-credential plugins read them. */
function keystoneAuthOptions(service: string): OptionSpec[] {
  return [
    { name: 'auth_type', type: 'string', help: `Keystone auth plugin for ${service}.`, choices: ['password', 'v3password', 'v3applicationcredential', 'applicationcredential'] },
    { name: 'auth_url', type: 'uri', help: 'Keystone endpoint, e.g. http://127.0.0.1:5000/v3.' },
    { name: 'username', type: 'string', help: 'User name (password plugin).' },
    { name: 'password', type: 'string', secret: true, help: 'Password (password plugin).' },
    { name: 'project_name', type: 'string', help: 'Project to scope the token to.' },
    { name: 'user_domain_name', type: 'string', help: 'Domain of the user, by name.' },
    { name: 'user_domain_id', type: 'string', help: 'Domain of the user, by id.' },
    { name: 'project_domain_name', type: 'string', help: 'Domain of the project, by name.' },
    { name: 'project_domain_id', type: 'string', help: 'Domain of the project, by id.' },
    { name: 'application_credential_id', type: 'string', help: 'Application credential id (applicationcredential plugin).' },
    { name: 'application_credential_secret', type: 'string', secret: true, help: 'Application credential secret.' },
    { name: 'region_name', type: 'string', help: 'Region used to pick the endpoint from the service catalog.' },
    { name: 'valid_interfaces', type: 'list', help: 'Endpoint interfaces to try, in order.', default: ['internal', 'public'] },
    { name: 'endpoint_override', type: 'uri', help: 'Use this endpoint instead of the catalog.' },
    { name: 'timeout', type: 'float', help: 'Seconds each request to the service may take.', default: 30, min: 0.1 },
  ];
}

export const GROUPS: GroupSpec[] = [
  {
    name: 'DEFAULT',
    help: 'Nova options a compute host reads (same names and meaning as in nova.conf).',
    options: [
      messagingDefault('transport_url', { required: true, check: (v) => { parseTransportUrl(v); } }),
      { name: 'host', type: 'string', default: hostname(), sampleDefault: '<this machine\'s host name>', help: 'Name of this compute host: queue compute.<host>, Service and ComputeNode host, Neutron binding host.' },
      { name: 'my_ip', type: 'string', default: '127.0.0.1', help: 'IP address of this host, reported as the compute node host_ip.' },
      messagingDefault('control_exchange', { default: 'nova', help: 'AMQP exchange Nova\'s RPC uses.' }),
      { name: 'state_path', type: 'string', default: '/var/lib/nova-container', help: 'Directory for state kept across restarts (the stable compute node uuid).' },
      { name: 'report_interval', type: 'integer', default: 10, min: 1, help: 'Seconds between service heartbeats (Service.save with report_count + 1).' },
      messagingDefault('rpc_response_timeout'),
      messagingDefault('executor_thread_pool_size'),
      messagingDefault('rpc_ping_enabled'),
      { name: 'update_resources_interval', type: 'integer', default: 60, min: 1, help: 'Seconds between resource updates (ComputeNode.save and Placement inventory).' },
      { name: 'sync_power_state_interval', type: 'integer', default: 600, min: 1, help: 'Seconds between checks that each container\'s state matches what Nova records (a container that stopped behind Nova\'s back is recorded stopped).' },
      { name: 'shutdown_timeout', type: 'integer', default: 60, min: 0, help: 'Seconds a graceful stop waits after SIGTERM before killing the container.' },
      { name: 'graceful_shutdown_timeout', type: 'integer', default: 60, min: 0, help: 'Seconds the service may take to stop after SIGTERM or SIGINT (its RPC handlers finish, its connections close) before it exits at once with status 1, as oslo.service bounds nova-compute\'s stop; 0: no bound.' },
      { name: 'shelved_offload_time', type: 'integer', default: 0, min: -1, max: 0, help: '0: a shelved instance is offloaded (container removed, resources given back) at once; -1: it stays on the host until `openstack server shelve --offload`. Timed offload is not supported.' },
      { name: 'vif_plugging_timeout', type: 'integer', default: 300, min: 0, help: 'Seconds a build waits for Neutron\'s network-vif-plugged event for each port that is not yet ACTIVE.' },
      { name: 'vif_plugging_is_fatal', type: 'boolean', default: true, help: 'Fail the build when that event does not come in time (otherwise go on).' },
      { name: 'instance_delete_interval', type: 'integer', default: 300, min: 1, help: 'Seconds between removals of expired console tokens from the database and of what failed moves left here of deleted instances, as nova-compute does on this interval (its other use, retrying failed deletes of instance files, has no counterpart here: a delete finishes at once).' },
      { name: 'scheduler_instance_sync_interval', type: 'integer', default: 120, min: 1, help: 'Seconds between sync_instance_info casts to the scheduler.' },
      { name: 'reserved_host_cpus', type: 'integer', default: 0, min: 0, help: 'VCPUs kept for the host (Placement reserved).' },
      { name: 'reserved_host_memory_mb', type: 'integer', default: 512, min: 0, help: 'Memory in MiB kept for the host.' },
      { name: 'reserved_host_disk_mb', type: 'integer', default: 0, min: 0, help: 'Disk in MiB kept for the host.' },
      { name: 'cpu_allocation_ratio', type: 'float', min: 0, help: 'VCPU overcommit; unset keeps Placement\'s current value or initial_cpu_allocation_ratio.' },
      { name: 'ram_allocation_ratio', type: 'float', min: 0, help: 'Memory overcommit; unset keeps Placement\'s or the initial one.' },
      { name: 'disk_allocation_ratio', type: 'float', min: 0, help: 'Disk overcommit; unset keeps Placement\'s or the initial one.' },
      { name: 'initial_cpu_allocation_ratio', type: 'float', default: 16.0, min: 0, help: 'VCPU ratio for a new resource provider.' },
      { name: 'initial_ram_allocation_ratio', type: 'float', default: 1.5, min: 0, help: 'Memory ratio for a new resource provider.' },
      { name: 'initial_disk_allocation_ratio', type: 'float', default: 1.0, min: 0, help: 'Disk ratio for a new resource provider.' },
      { name: 'debug', type: 'boolean', default: false, help: 'Log at debug level.' },
    ],
  },
  {
    name: 'oslo_messaging_rabbit',
    help: 'oslo.messaging\'s RabbitMQ driver. Must equal the other Nova services\' settings: RabbitMQ refuses a queue declared with other flags or arguments.',
    options: RABBIT_OPTION_DEFS,
    check: (values, all) => {
      messagingOptions({ transport_url: String(all.DEFAULT.transport_url), rabbit: values as Partial<RabbitOptions> });
    },
  },
  { name: 'placement', help: 'Placement API client (service credentials).', options: keystoneAuthOptions('Placement') },
  { name: 'glance', help: 'Glance image API client.', options: keystoneAuthOptions('Glance') },
  {
    name: 'neutron',
    help: 'Neutron network API client, and the OVS integration bridge.',
    options: [
      ...keystoneAuthOptions('Neutron'),
      { name: 'ovs_bridge', type: 'string', default: 'br-int', help: 'OVS bridge a port of vif_type ovs is plugged into when its binding names none (ML2/OVN sends no bridge_name; ML2/OVS sends its agent\'s integration_bridge).' },
    ],
  },
  { name: 'service_user', help: 'Fallback service credentials for any client whose own group has none.', options: keystoneAuthOptions('any service') },
  { name: 'keystone_authtoken', help: 'Last fallback for service credentials (as in many nova.conf files).', options: keystoneAuthOptions('any service') },
  {
    name: 'filter_scheduler',
    help: 'Scheduler options a compute host honours.',
    options: [
      { name: 'track_instance_changes', type: 'boolean', default: true, help: 'Tell the scheduler about instance changes (update/delete/sync_instance_info).' },
    ],
  },
  {
    name: 'image_cache',
    help: 'Cached Glance images (same options as Nova\'s image cache manager).',
    options: [
      { name: 'manager_interval', type: 'integer', default: 2400, min: 1, help: 'Seconds between passes of the image cache manager.' },
      { name: 'remove_unused_base_images', type: 'boolean', default: true, help: 'Remove cached images no container has used for remove_unused_original_minimum_age_seconds.' },
      { name: 'remove_unused_original_minimum_age_seconds', type: 'integer', default: 86400, min: 0, help: 'How long a cached image must have been unused before it is removed.' },
    ],
  },
  {
    name: 'os_vif_ovs',
    help: 'How ports of vif_type ovs reach Open vSwitch (os-vif\'s options of the same names; ovs-vsctl is the client).',
    options: [
      { name: 'ovsdb_connection', type: 'string', help: 'The OVSDB endpoint, e.g. unix:/var/run/openvswitch/db.sock or tcp:127.0.0.1:6640 (given to ovs-vsctl as --db). Unset: ovs-vsctl\'s own default, the local ovsdb-server\'s unix socket (os-vif defaults to tcp:127.0.0.1:6640, which a stock ovsdb-server does not listen on).' },
      { name: 'ovs_vsctl_timeout', type: 'integer', default: 120, min: 1, help: 'Seconds each ovs-vsctl call may take, waiting for ovs-vswitchd to apply a change included.' },
    ],
  },
  {
    name: 'serial_console',
    help: 'Serial consoles of instances (Nova\'s options of the same names): a TCP port per instance, bridged to its workload\'s TTY, which nova-serialproxy connects to (src/runtime/serial-consoles.ts).',
    options: [
      { name: 'enabled', type: 'boolean', default: false, help: 'Give instances a serial console: every workload is made with a TTY and an open stdin (Ctrl-C typed there signals its foreground process; src/runtime/README.md). Instances made while it is false have no TTY; a console needs them rebuilt.' },
      { name: 'port_range', type: 'string', default: '10000:20000', check: (v) => { parsePortRange(v); }, help: 'Ports the consoles listen on, start:stop (stop not included).' },
      { name: 'base_url', type: 'uri', default: 'ws://127.0.0.1:6083/', help: 'The nova-serialproxy URL a user connects to; the console token is added to it.' },
      { name: 'proxyclient_address', type: 'string', default: '127.0.0.1', help: 'The address the consoles listen on, which nova-serialproxy connects to. They have no authentication of their own: keep it a loopback or management address.' },
    ],
  },
  {
    name: 'consoleauth',
    help: 'Console tokens (Nova\'s option of the same name).',
    options: [
      { name: 'token_ttl', type: 'integer', default: 600, min: 0, help: 'Seconds a console token is valid.' },
    ],
  },
  {
    name: 'container',
    help: 'nova-container\'s own options. Reserves and ratios set here win over [DEFAULT].',
    options: [
      { name: 'driver', type: 'string', default: 'docker', choices: ENGINE_NAMES, help: 'The container engine instances run on, its API at engine_socket: docker (dockerd 20.10 or later), or podman (`podman system service`, 4.3 or later, with a btrfs store for root disk sizes; src/runtime/README.md).' },
      { name: 'engine_socket', type: 'uri', default: 'unix:///var/run/docker.sock', help: 'The engine\'s Docker-compatible API endpoint (unix:///path or http://127.0.0.1:port).' },
      { name: 'podman_userns_remap', type: 'string', default: DEFAULT_PODMAN_USERNS_REMAP, check: (v) => { podmanUserns(v); }, help: 'With driver = podman: the host ids root and the other ids of every instance map to, as first:count (the same range for all, as dockerd\'s userns-remap gives them). Empty: no user namespace, root in an instance is root on the host. Docker takes this from its own userns-remap setting.' },
      { name: 'sandbox_init', type: 'string', default: '/usr/bin/catatonit', help: 'Static pause binary (Debian\'s catatonit) the image of every instance\'s network sandbox is made from, on an engine that needs one (Docker; not podman): the container that holds the instance\'s network namespace so its VIFs exist before its workload starts.' },
      { name: 'remove_orphans', type: 'boolean', default: false, help: 'At start-up, remove containers of this host that belong to no instance Nova knows (otherwise they are only reported).' },
      { name: 'health_listen', type: 'string', default: '', help: 'Address of the operator endpoints GET /healthz (200 or 503 with JSON checks: broker, engine, heartbeat, conductor) and GET /metrics (Prometheus text format): host:port, [v6 address]:port, or a port alone for 127.0.0.1:port. Empty or port 0: not served. They have no authentication: keep them on a loopback or management address.' },
      { name: 'service_version', type: 'string', default: 'auto', check: (v) => { parseServiceVersionOption(v); }, help: `Nova service version this host reports (and so the compute RPC version it serves). auto: the conductor's version, at most ${HIGHEST_SERVICE_VERSION}, and never below the cell's lowest nova-compute. A number from ${LOWEST_SERVICE_VERSION} to ${HIGHEST_SERVICE_VERSION} forces it: 64 Zed, 66 2023.1/2023.2, 67 2024.x, 68 2025.1, 70 2025.2.` },
      { name: 'enforce_root_disk', type: 'boolean', default: true, help: 'Hold each instance\'s root file system to its flavor\'s root_gb, as the engine\'s storage size option (Docker: the btrfs or zfs storage driver, or overlay2 on XFS mounted with pquota); a build then fails with a fault where the engine cannot. False: not asked for, and an instance can fill the engine\'s disk.' },
      { name: 'snapshot_delta_depth', type: 'integer', default: 8, min: 0, max: 32, help: 'A snapshot uploads to Glance only the layers above the image its instance was built from (a delta snapshot, whose Glance property nova_container_base_image names that image; booting it fetches the chain) while fewer than this many deltas stand on one another; the next uploads the whole image. 0: every snapshot is uploaded whole, as before (src/glance-bridge/README.md).' },
      { name: 'pids_per_vcpu', type: 'integer', default: 1024, min: 16, help: 'Processes and threads an instance may have at once, per vCPU of its flavor (a fork bomb in one instance then stops at its own limit); the flavor extra spec container:pids_limit overrides it.' },
      { name: 'reserved_host_cpus', type: 'integer', min: 0, help: 'Overrides [DEFAULT] reserved_host_cpus.' },
      { name: 'reserved_host_memory_mb', type: 'integer', min: 0, help: 'Overrides [DEFAULT] reserved_host_memory_mb.' },
      { name: 'reserved_host_disk_mb', type: 'integer', min: 0, help: 'Overrides [DEFAULT] reserved_host_disk_mb.' },
      { name: 'cpu_allocation_ratio', type: 'float', min: 0, help: 'Overrides [DEFAULT] cpu_allocation_ratio.' },
      { name: 'ram_allocation_ratio', type: 'float', min: 0, help: 'Overrides [DEFAULT] ram_allocation_ratio.' },
      { name: 'disk_allocation_ratio', type: 'float', min: 0, help: 'Overrides [DEFAULT] disk_allocation_ratio.' },
    ],
  },
];

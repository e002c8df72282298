/**
 * What each compute RPC method of this host reads of its arguments, as JSON schemas that
 * accept what Zed's nova-api and conductor send (test/fixtures/nova-zed-traces/rpc).
 *
 * Two checks, both answering builtins.ValueError: the dispatcher refuses a message whose
 * instance cannot be identified (INSTANCE_ARG), as nothing could record the failure on it; a
 * handler checks the rest (checkArgs) first thing inside its instance action, so a bad
 * argument fails the operation like any other failure (fault recorded, task_state cleared, a
 * build in ERROR) instead of leaving the task_state nova-api set before casting.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { ValueError } from '../../messaging/errors.js';

const STR = { type: 'string' };
const OPT_STR = { type: ['string', 'null'] };
const BOOL = { type: 'boolean' };

function novaObject(name: string, required: string[] = [], properties: Record<string, object> = {}): object {
  return {
    type: 'object',
    required: ['nova_object.name', 'nova_object.data'],
    properties: { 'nova_object.name': { const: name }, 'nova_object.data': { type: 'object', required, properties } },
  };
}

const INSTANCE = novaObject('Instance', ['uuid'], { uuid: STR });

export const INSTANCE_ARG = { type: 'object', required: ['instance'], properties: { instance: INSTANCE } };

function instanceArgs(required: string[] = [], properties: Record<string, object> = {}): object {
  return { type: 'object', required: ['instance', ...required], properties: { instance: INSTANCE, ...properties } };
}

const MIGRATION = novaObject('Migration', ['uuid'], { uuid: STR, status: STR, source_compute: OPT_STR, source_node: OPT_STR });
const FLAVOR = novaObject('Flavor', [], { vcpus: { type: 'integer' }, memory_mb: { type: 'integer' } });
const NETWORK_REQUESTS = {
  anyOf: [{ type: 'null' }, novaObject('NetworkRequestList', ['objects'], {
    objects: { type: 'array', items: novaObject('NetworkRequest', [], { network_id: OPT_STR, port_id: OPT_STR, address: OPT_STR }) },
  })],
};

export const COMPUTE_ARG_SCHEMAS = {
  // A container needs an image: a build without one (boot from volume) is refused here.
  build_and_run_instance: instanceArgs(['image'], {
    image: { type: 'object', required: ['id'], properties: { id: STR, properties: { type: 'object' } } },
    requested_networks: NETWORK_REQUESTS,
    security_groups: { type: 'array', items: STR },
  }),
  terminate_instance: instanceArgs(),
  stop_instance: instanceArgs([], { clean_shutdown: BOOL }),
  start_instance: instanceArgs(),
  reboot_instance: instanceArgs(['reboot_type'], { reboot_type: { enum: ['SOFT', 'HARD'] } }),
  pause_instance: instanceArgs(),
  unpause_instance: instanceArgs(),
  suspend_instance: instanceArgs(),
  resume_instance: instanceArgs(),
  // nova-api passes the API's `length` through: an integer, a string of digits or null.
  get_console_output: instanceArgs([], { tail_length: { type: ['integer', 'string', 'null'] } }),
  snapshot_instance: instanceArgs(['image_id'], { image_id: STR }),
  // target_state (6.2): where an evacuation leaves the instance; null unless evacuating.
  rebuild_instance: instanceArgs([], { image_ref: OPT_STR, recreate: BOOL, target_state: OPT_STR, migration: { anyOf: [{ type: 'null' }, MIGRATION] } }),
  shelve_instance: instanceArgs(['image_id'], { image_id: STR, clean_shutdown: BOOL }),
  shelve_offload_instance: instanceArgs([], { clean_shutdown: BOOL }),
  unshelve_instance: instanceArgs([], { image: { type: ['object', 'null'] } }),
  prep_resize: instanceArgs(['migration', 'flavor'], { migration: MIGRATION, flavor: FLAVOR, clean_shutdown: BOOL }),
  confirm_resize: instanceArgs(['migration'], { migration: MIGRATION }),
  revert_resize: instanceArgs(['migration'], { migration: MIGRATION }),
  // a move's steps another nova-container host casts (resize.ts)
  resize_instance: instanceArgs(['migration', 'flavor'], { migration: MIGRATION, flavor: FLAVOR, clean_shutdown: BOOL }),
  finish_resize: instanceArgs(['migration', 'disk_info'], { migration: MIGRATION, disk_info: STR }),
  finish_revert_resize: instanceArgs(['migration'], { migration: MIGRATION }),
  attach_interface: instanceArgs([], { network_id: OPT_STR, port_id: OPT_STR, requested_ip: OPT_STR }),
  detach_interface: instanceArgs(['port_id'], { port_id: STR }),
} satisfies Record<string, object>;

export type InstanceMethod = keyof typeof COMPUTE_ARG_SCHEMAS;

/** allow_share / deny_share (6.4): the instance and the ShareMapping nova-api casts. */
export const SHARE_ARGS = instanceArgs(['share_mapping'], {
  share_mapping: novaObject('ShareMapping', ['share_id'], { share_id: STR, status: STR, tag: STR }),
});

/** get_serial_console and the graphical consoles: the instance and the console type nova-api asks for. */
export const CONSOLE_ARGS = instanceArgs(['console_type'], { console_type: STR });

/** validate_console_port: nova-serialproxy's port, as a string (nova/console/websocketproxy.py). */
export const VALIDATE_CONSOLE_PORT_ARGS = instanceArgs(['console_type', 'port'], { console_type: STR, port: { type: ['string', 'integer'] } });

/** external_instance_event: Neutron's events, relayed by nova-api. */
export const EXTERNAL_EVENTS_ARG = {
  type: 'object',
  required: ['events'],
  properties: {
    events: { type: 'array', items: novaObject('InstanceExternalEvent', ['instance_uuid', 'name'], { instance_uuid: STR, name: STR, status: STR, tag: OPT_STR }) },
  },
};

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = Object.fromEntries(Object.entries(COMPUTE_ARG_SCHEMAS)
  .map(([m, schema]) => [m, ajv.compile(schema)])) as Record<InstanceMethod, ValidateFunction>;

/** Throws builtins.ValueError when `args` are not what `method` reads. */
export function checkArgs(method: InstanceMethod, args: Record<string, unknown>): void {
  const validate = validators[method];
  if (validate(args)) return;
  const details = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(args)'} ${e.message ?? 'is invalid'}`).join('; ');
  throw new ValueError(`Invalid arguments for RPC method ${method}: ${details}`);
}

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../../../src/config/load.js';
import { renderSample } from '../../../src/config/sample.js';
import { pluggerSettings, resourcePolicy, serviceAuth } from '../../../src/config/types.js';
import { VifPluggers } from '../../../src/network/pluggers.js';
import type { VifModel } from '../../../src/network/network-info.js';

const dir = mkdtempSync(join(tmpdir(), 'nc-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function files(...texts: string[]): string[] {
  return texts.map((t, i) => {
    const f = join(dir, `f${fileCount++}-${i}.conf`);
    writeFileSync(f, t);
    return f;
  });
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('no error thrown');
}

describe('config', () => {
  it('reads an operator nova.conf: DEFAULT, rabbit, placement, unknown options ignored', () => {
    const [nova] = files(`
[DEFAULT]
transport_url = rabbit://nova:secret@127.0.0.1:5672/
host = cn1
my_ip = 10.0.0.5
report_interval = 7
compute_driver = libvirt.LibvirtDriver
state_path = /srv/nova
instances_path = $state_path/instances

[oslo_messaging_rabbit]
amqp_durable_queues = True

[placement]
auth_type = password
auth_url = http://127.0.0.1:5000/v3
username = placement
password = pw
project_name = service
valid_interfaces = internal, public

[libvirt]
virt_type = kvm
`);
    const c = loadConfig([nova]);
    assert.equal(c.DEFAULT.host, 'cn1');
    assert.equal(c.DEFAULT.report_interval, 7);
    assert.equal(c.DEFAULT.state_path, '/srv/nova');
    assert.equal(c.DEFAULT.control_exchange, 'nova');
    assert.equal(c.oslo_messaging_rabbit.amqp_durable_queues, true);
    assert.equal(c.oslo_messaging_rabbit.rabbit_transient_queues_ttl, 1800);
    assert.deepEqual(c.placement.valid_interfaces, ['internal', 'public']);
    assert.equal(c.container.engine_socket, 'unix:///var/run/docker.sock');
  });

  it('lets a later file override an earlier one, and [container] override [DEFAULT] reserves', () => {
    const [a, b] = files(
      '[DEFAULT]\ntransport_url = rabbit://a@h/\nreserved_host_memory_mb = 1024\ncpu_allocation_ratio = 4.0\n',
      '[DEFAULT]\nhost = second\n[container]\nreserved_host_memory_mb = 2048\nengine_socket = unix:///tmp/d.sock\n',
    );
    const c = loadConfig([a, b]);
    assert.equal(c.DEFAULT.host, 'second');
    const p = resourcePolicy(c);
    assert.equal(p.reservedMemoryMb, 2048);
    assert.equal(p.cpuRatio, 4);
    assert.equal(p.ramRatio, undefined);
    assert.equal(p.initialRamRatio, 1.5);
  });

  it('falls back to [service_user] then [keystone_authtoken] credentials', () => {
    const [f] = files('[DEFAULT]\ntransport_url = rabbit://x@h/\n[keystone_authtoken]\nauth_url = http://k/v3\nusername = nova\npassword = p\n[glance]\nregion_name = R2\n');
    const auth = serviceAuth(loadConfig([f]), 'glance');
    assert.equal(auth.username, 'nova');
    assert.equal(auth.region_name, 'R2');
  });

  it('names the file, line, section and key of a bad value in one line', () => {
    const [f] = files('[DEFAULT]\ntransport_url = rabbit://x@h/\n\nreport_interval = often\n');
    const e = errorOf(() => loadConfig([f]));
    assert.match(e.message, new RegExp(`^${f}:4: \\[DEFAULT\\] report_interval: must be integer \\(got "often"\\)$`));
    assert.doesNotMatch(e.message, /\n/);
  });

  it('rejects a bad boolean, a bad URL, a missing required option and a syntax error', () => {
    const [b] = files('[DEFAULT]\ntransport_url = rabbit://x@h/\n[oslo_messaging_rabbit]\namqp_durable_queues = maybe\n');
    assert.match(errorOf(() => loadConfig([b])).message, /\[oslo_messaging_rabbit\] amqp_durable_queues: must be a boolean/);
    const [u] = files('[DEFAULT]\ntransport_url = localhost\n');
    assert.match(errorOf(() => loadConfig([u])).message, /:2: \[DEFAULT\] transport_url: must be a URL/);
    const [m] = files('[DEFAULT]\nhost = a\n');
    assert.match(errorOf(() => loadConfig([m])).message, /\[DEFAULT\] transport_url: required option is not set/);
    const [s] = files('[DEFAULT]\nthis is not an option\n');
    assert.match(errorOf(() => loadConfig([s])).message, /:2: cannot parse line/);
    assert.match(errorOf(() => loadConfig(['/nonexistent/x.conf'])).message, /^\/nonexistent\/x.conf: cannot read: ENOENT$/);
  });

  it('rejects a transport_url the messaging layer cannot use, naming the option, as it loads', () => {
    const cases: [string, RegExp][] = [
      ['http://x', /unsupported transport http: only rabbit:\/\/ is implemented/],
      ['rabbit://u:p@h:99999/', /bad port in h:99999/],
      ['rabbit://u:p@h:56x/', /bad port in h:56x/],
      ['rabbit://u:%zz@h/', /bad percent-encoding in the password/],
    ];
    for (const [url, why] of cases) {
      const [f] = files(`[DEFAULT]\ntransport_url = ${url}\n`);
      const e = errorOf(() => loadConfig([f]));
      assert.match(e.message, new RegExp(`^${f}:2: \\[DEFAULT\\] transport_url: `), url);
      assert.match(e.message, why, url);
      assert.doesNotMatch(e.message, /\n/);
    }
    const [ok] = files('[DEFAULT]\ntransport_url = rabbit://u:p@h1:5672,u:p@[::1]:5673/vhost\n');
    assert.equal(loadConfig([ok]).DEFAULT.transport_url, 'rabbit://u:p@h1:5672,u:p@[::1]:5673/vhost');
  });

  it('never puts a secret value in an error message', () => {
    for (const url of ['rabbit//u:hunter2@h/', 'rabbit://u:hunter2@h:0/', 'http://u:hunter2@h/']) {
      const [bad] = files(`[DEFAULT]\ntransport_url = ${url}\n`);
      const err = errorOf(() => loadConfig([bad]));
      assert.match(err.message, /\[DEFAULT\] transport_url: /, url);
      assert.doesNotMatch(err.message, /hunter2/, url);
    }
    const [f] = files('[DEFAULT]\ntransport_url = rabbit://u:hunter2@h/\nreport_interval = 0\n');
    const e = errorOf(() => loadConfig([f]));
    assert.match(e.message, /report_interval: must be >= 1/);
    assert.doesNotMatch(e.message, /hunter2/);
  });

  it('gives the VIF pluggers the host and the OVS options; vif_type ovs and bridge each have a plugger', () => {
    const base = '[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:5672/\nhost = cn7\n';
    assert.deepEqual(pluggerSettings(loadConfig(files(base))), { host: 'cn7', ovs: { bridge: 'br-int', ovsdbConnection: undefined, vsctlTimeoutSeconds: 120 } });
    const settings = pluggerSettings(loadConfig(files(`${base}[neutron]\novs_bridge = br-ovn\n[os_vif_ovs]\novsdb_connection = unix:/run/ovs/db.sock\novs_vsctl_timeout = 9\n`)));
    assert.deepEqual(settings.ovs, { bridge: 'br-ovn', ovsdbConnection: 'unix:/run/ovs/db.sock', vsctlTimeoutSeconds: 9 });
    assert.match(errorOf(() => loadConfig(files(`${base}[os_vif_ovs]\novs_vsctl_timeout = 0\n`))).message, /\[os_vif_ovs\] ovs_vsctl_timeout/);
    const pluggers = VifPluggers.forHost(settings);
    for (const type of ['ovs', 'bridge']) assert.deepEqual(pluggers.find({ type } as VifModel)?.vifTypes, [type]);
    assert.equal(pluggers.find({ type: 'vhostuser' } as VifModel), null);
  });

  it('etc/nova-container.conf.sample documents every option (regenerate with --print-sample-config)', () => {
    const onDisk = readFileSync(new URL('../../../../etc/nova-container.conf.sample', import.meta.url), 'utf8');
    assert.equal(onDisk, renderSample());
  });
});

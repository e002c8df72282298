import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/load.js';
import { GROUPS } from '../../../src/config/options.js';
import { MESSAGING_DEFAULT_OPTION_DEFS, RABBIT_OPTION_DEFS, type OptionDef } from '../../../src/messaging/options.js';
import { messagingOptionsFromConfig } from '../../../src/nova-driver/messaging-config.js';

/** A valid value other than the default, as a file would spell it and as it must arrive. */
function otherValue(def: OptionDef): [string, unknown] {
  if (def.choices) {
    const pick = def.choices.find((c) => c !== def.default && c !== 'EXTERNAL' && c !== 'RABBIT-CR-DEMO') as string;
    return [pick, pick];
  }
  switch (def.type) {
    case 'boolean': return [String(!def.default), !def.default];
    case 'integer': {
      const n = Math.max(Number(def.default ?? 0) + 1, def.min ?? 0);
      return [String(n), n];
    }
    case 'float': return ['2.5', 2.5];
    default: return ['some-value', 'some-value'];
  }
}

describe('config: oslo.messaging\'s options come from the messaging layer\'s tables', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nc-msgopts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const load = (rabbitLines: string, defaultLines = ''): ReturnType<typeof loadConfig> => {
    const f = join(dir, 'nova.conf');
    writeFileSync(f, `[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:5672/\n${defaultLines}[oslo_messaging_rabbit]\n${rabbitLines}\n`);
    return loadConfig([f]);
  };

  it('[oslo_messaging_rabbit] is exactly the messaging table, [DEFAULT] holds its global options', () => {
    const rabbitGroup = GROUPS.find((g) => g.name === 'oslo_messaging_rabbit');
    assert.equal(rabbitGroup?.options, RABBIT_OPTION_DEFS);
    const defaults = GROUPS.find((g) => g.name === 'DEFAULT')?.options.map((o) => o.name) ?? [];
    for (const d of MESSAGING_DEFAULT_OPTION_DEFS) assert.ok(defaults.includes(d.name), d.name);
  });

  for (const def of RABBIT_OPTION_DEFS as readonly OptionDef[]) {
    const [text, value] = otherValue(def);
    it(`${def.name} = ${text} is ${def.unsupported ? 'refused with the file, line and option' : 'read and reaches the messaging layer'}`, () => {
      if (def.unsupported) {
        assert.throws(() => load(`${def.name} = ${text}`), (err: unknown) => err instanceof ConfigError
          && err.message.startsWith(`${join(dir, 'nova.conf')}:4: [oslo_messaging_rabbit] ${def.name}: not supported`));
        return;
      }
      const o = messagingOptionsFromConfig(load(`${def.name} = ${text}`));
      assert.deepEqual((o.rabbit as Record<string, unknown>)[def.name], value);
    });
  }

  it('reads the deprecated names of oslo.messaging 14 (Zed) and names them in errors', () => {
    const c = load('rabbit_quroum_max_memory_length = 7\nkombu_reconnect_timeout = 30\nrabbit_use_ssl = true\n', 'rpc_thread_pool_size = 8\n');
    const o = messagingOptionsFromConfig(c);
    assert.deepEqual([o.rabbit.rabbit_quorum_max_memory_length, o.rabbit.kombu_missing_consumer_retry_timeout, o.rabbit.ssl, o.executor_thread_pool_size],
      [7, 30, true, 8]);
    assert.notEqual(o.tls, null);
    assert.throws(() => load('kombu_ssl_ca_certs = /nonexistent.pem\nssl = true'),
      /nova\.conf:4: \[oslo_messaging_rabbit\] kombu_ssl_ca_certs: cannot read \/nonexistent\.pem: ENOENT/);
  });

  it('hands executor_thread_pool_size and rpc_ping_enabled to the messaging layer; control_exchange is Nova\'s', () => {
    const o = messagingOptionsFromConfig(load('', 'executor_thread_pool_size = 4\nrpc_ping_enabled = true\n'));
    assert.deepEqual([o.executor_thread_pool_size, o.rpc_ping_enabled, o.control_exchange], [4, true, 'nova']);
  });

  it('checks the transport URL\'s query like the file\'s values', () => {
    const f = join(dir, 'query.conf');
    writeFileSync(f, '[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:5672/?use_queue_manager=true\n');
    assert.throws(() => loadConfig([f]), (err: unknown) => err instanceof ConfigError
      && err.message === `${f}:2: [DEFAULT] transport_url: query use_queue_manager: not supported by this oslo.messaging implementation (reply and fanout queues have random names); leave it unset`);
  });
});

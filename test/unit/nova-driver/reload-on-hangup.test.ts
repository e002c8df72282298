/** SIGHUP: the configuration files read again, the log level applied (src/nova-driver/reload-on-hangup.ts). */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { changedOptions, reloadOnHangup } from '../../../src/nova-driver/reload-on-hangup.js';
import { captureLogs } from '../../helpers/log-capture.js';

const BASE = '[DEFAULT]\ntransport_url = rabbit://nova:secret@127.0.0.1:5672/\nhost = cn1\n';

describe('reloadOnHangup', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nc-hup-'));
  const file = join(dir, 'nova-container.conf');
  after(() => rmSync(dir, { recursive: true, force: true }));

  function started(text: string) {
    writeFileSync(file, text);
    const logs = captureLogs('info');
    const signals = new EventEmitter();
    const stop = reloadOnHangup({ load: () => loadConfig([file]), running: loadConfig([file]), log: logs.log, signals });
    return { logs, signals, stop };
  }

  it('debug turned on and off again takes effect at once', () => {
    const { logs, signals, stop } = started(BASE);
    assert.equal(logs.log.level, 'info');
    writeFileSync(file, `${BASE}debug = true\n`);
    signals.emit('SIGHUP');
    assert.equal(logs.log.level, 'debug');
    assert.equal(logs.log.child({ component: 'x' }).isLevelEnabled('debug'), true, 'the components\' loggers follow');
    const read = logs.find('configuration files read again');
    assert.equal(read.length, 1);
    assert.equal(read[0].log_level, 'debug');
    assert.equal(read[0].changed_at_next_start, undefined, 'debug needs no restart');
    writeFileSync(file, BASE);
    signals.emit('SIGHUP');
    assert.equal(logs.log.level, 'info');
    stop();
    assert.equal(signals.listenerCount('SIGHUP'), 0);
  });

  it('other changed options are named, without their values, for the next start', () => {
    const { logs, signals } = started(BASE);
    writeFileSync(file, BASE.replace('secret', 'other-secret') + 'report_interval = 3\n[container]\nremove_orphans = true\n');
    signals.emit('SIGHUP');
    const [read] = logs.find('configuration files read again');
    assert.deepEqual(read.changed_at_next_start, ['DEFAULT.transport_url', 'DEFAULT.report_interval', 'container.remove_orphans']);
    assert.ok(!logs.raw.join('\n').includes('other-secret'), 'no value in the log');
  });

  it('files that no longer load change nothing and are logged', () => {
    const { logs, signals } = started(`${BASE}debug = true\n`);
    logs.log.level = 'debug';
    writeFileSync(file, `${BASE}report_interval = often\n`);
    signals.emit('SIGHUP');
    assert.equal(logs.log.level, 'debug');
    const [failed] = logs.find('the configuration files did not load again; nothing changed');
    assert.match(String(failed.err), /report_interval/);
  });

  it('changedOptions compares every group\'s options by value', () => {
    const a = loadConfig([join(dir, 'a.conf')].map((f) => { writeFileSync(f, BASE); return f; }));
    const b = loadConfig([join(dir, 'b.conf')].map((f) => { writeFileSync(f, `${BASE}[glance]\nauth_url = http://127.0.0.1:5000/v3\n`); return f; }));
    assert.deepEqual(changedOptions(a, a), []);
    assert.deepEqual(changedOptions(a, b), ['glance.auth_url']);
  });
});

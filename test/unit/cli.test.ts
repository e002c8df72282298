import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });

describe('nova-container executable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nc-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--help describes --config-file and exits 0', () => {
    const r = run('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--config-file FILE/);
  });

  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = run('--version');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `nova-container ${pkg.version}\n`);
  });

  it('fails fast on a bad config with exactly one line naming file, section and key', () => {
    const f = join(dir, 'bad.conf');
    writeFileSync(f, '[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:5672/\n[oslo_messaging_rabbit]\nrabbit_retry_interval = soon\n');
    const started = Date.now();
    const r = run('--config-file', f);
    assert.equal(r.status, 2);
    assert.ok(Date.now() - started < 10_000);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`^nova-container: configuration error: ${f}:4: \\[oslo_messaging_rabbit\\] rabbit_retry_interval: must be integer`));
  });

  it('reports a transport_url it cannot use as a configuration error: one line, exit 2, before any connection', () => {
    for (const [url, why] of [['not-a-url', 'must be a URL'], ['http://x', 'unsupported transport http']]) {
      const f = join(dir, 'bad-url.conf');
      writeFileSync(f, `[DEFAULT]\ntransport_url = ${url}\n`);
      const r = run('--config-file', f);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`^nova-container: configuration error: ${f}:2: \\[DEFAULT\\] transport_url: ${why}`));
    }
  });

  it('a [container] service_version it does not implement stops it with one line, exit 2', () => {
    const f = join(dir, 'bad-version.conf');
    writeFileSync(f, '[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:5672/\n[container]\nservice_version = 71\n');
    const r = run('--config-file', f);
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`^nova-container: configuration error: ${f}:4: \\[container\\] service_version: must be auto or a service version from 64 to 70 \\(got "71"\\)$`));
  });

  it('stops with one line, exit 2, on an oslo.messaging option it knows but does not support', () => {
    const cases: [string, number, string, RegExp][] = [
      ['use_queue_manager = true', 4, 'use_queue_manager', /not supported .*random names.*\(got "true"\)$/],
      ['rabbit_stream_fanout = yes', 4, 'rabbit_stream_fanout', /not supported/],
      ['kombu_compression = gzip', 4, 'kombu_compression', /not supported .*not compressed/],
      ['ssl_enforce_fips_mode = true', 4, 'ssl_enforce_fips_mode', /not supported/],
      ['rabbit_login_method = RABBIT-CR-DEMO', 4, 'rabbit_login_method', /RABBIT-CR-DEMO is not supported/],
      ['rabbit_quorum_queue = true\nrabbit_ha_queues = true', 4, 'rabbit_quorum_queue', /quorum or HA/],
      ['ssl = true\nssl_ca_file = /nonexistent/ca.pem', 5, 'ssl_ca_file', /cannot read \/nonexistent\/ca\.pem: ENOENT/],
    ];
    for (const [lines, line, option, why] of cases) {
      const f = join(dir, 'unsupported.conf');
      writeFileSync(f, `[DEFAULT]\ntransport_url = rabbit://u:p@127.0.0.1:5672/\n[oslo_messaging_rabbit]\n${lines}\n`);
      const r = run('--config-file', f);
      assert.equal(r.status, 2, `${lines}: ${r.stderr}`);
      const out = r.stderr.trimEnd().split('\n');
      assert.equal(out.length, 1, r.stderr);
      assert.ok(out[0].startsWith(`nova-container: configuration error: ${f}:${line}: [oslo_messaging_rabbit] ${option}: `), out[0]);
      assert.match(out[0], why);
    }
  });

  it('refuses to start without a config file, or with an unknown argument', () => {
    assert.equal(run().status, 2);
    const r = run('--colour');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown argument --colour/);
  });
});

/**
 * Which cloud a local-cloud.sh command addresses (devstack/lib/cloud-dir.sh) and which release
 * a directory's settings hold (load_settings in devstack/lib/common.sh), run in bash as the
 * script does, with the active-cloud file in a temporary directory.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIB = fileURLToPath(new URL('../../../../devstack/lib/', import.meta.url));

describe('local cloud: which directory and which release', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nc-cloud-dir-'));
  const active = join(dir, 'active');
  after(() => rmSync(dir, { recursive: true, force: true }));

  function bash(script: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('bash', ['-c', `set -euo pipefail; . "${LIB}cloud-dir.sh"; ${script}`], {
      encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ACTIVE_CLOUD_FILE: active, ...env },
    });
    return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
  }
  const dirFor = (command: string, env: Record<string, string> = {}) =>
    bash(`set_cloud_dir ${command}; echo "$LOCAL_CLOUD_DIR"`, env).stdout;

  it('without a cloud up, every command goes to the default release\'s directory (2025.1, on podman)', () => {
    rmSync(active, { force: true });
    for (const c of ['up', 'prepare', 'status', 'down']) assert.equal(dirFor(c), '/opt/nova-container-cloud-2025.1-podman', c);
  });

  it('OPENSTACK_RELEASE picks its release\'s directory, zed keeping /opt/nova-container-cloud', () => {
    writeFileSync(active, '/opt/nova-container-cloud-2025.1\n');
    assert.equal(dirFor('up', { OPENSTACK_RELEASE: 'zed' }), '/opt/nova-container-cloud');
    assert.equal(dirFor('down', { OPENSTACK_RELEASE: 'zed' }), '/opt/nova-container-cloud');
    assert.equal(dirFor('up', { OPENSTACK_RELEASE: '2025.1' }), '/opt/nova-container-cloud-2025.1-podman');
  });

  it('CONTAINER_ENGINE=podman picks a directory of its own beside its release\'s, docker the release\'s', () => {
    writeFileSync(active, '/opt/nova-container-cloud\n');
    assert.equal(dirFor('up', { OPENSTACK_RELEASE: 'zed', CONTAINER_ENGINE: 'podman' }), '/opt/nova-container-cloud-podman');
    assert.equal(dirFor('status', { CONTAINER_ENGINE: 'podman' }), '/opt/nova-container-cloud-2025.1-podman');
    assert.equal(dirFor('down', { OPENSTACK_RELEASE: 'zed', CONTAINER_ENGINE: 'docker' }), '/opt/nova-container-cloud');
    assert.equal(dirFor('up', { CONTAINER_ENGINE: 'docker' }), '/opt/nova-container-cloud-2025.1');
  });

  it('status, down and the others follow the cloud that is up; up and prepare do not', () => {
    writeFileSync(active, '/opt/nova-container-cloud\n');
    assert.equal(dirFor('status'), '/opt/nova-container-cloud');
    assert.equal(dirFor('down'), '/opt/nova-container-cloud');
    assert.equal(dirFor('up'), '/opt/nova-container-cloud-2025.1-podman');
    assert.equal(dirFor('prepare'), '/opt/nova-container-cloud-2025.1-podman');
  });

  it('LOCAL_CLOUD_DIR wins over everything', () => {
    writeFileSync(active, '/opt/nova-container-cloud\n');
    assert.equal(dirFor('up', { LOCAL_CLOUD_DIR: '/tmp/lc2', OPENSTACK_RELEASE: 'zed' }), '/tmp/lc2');
  });

  /** Runs `script` after lib/common.sh in a new cloud directory holding these settings (none: no file). */
  const withSettings = (cloud: string, settings: string | undefined, env: Record<string, string>, script: string) => {
    rmSync(cloud, { recursive: true, force: true });
    mkdirSync(cloud);
    if (settings !== undefined) writeFileSync(join(cloud, 'settings'), settings);
    return bash(`. "${LIB}common.sh"; ${script}`, { LOCAL_CLOUD_DIR: cloud, ...env });
  };

  describe('Heat and Horizon in a new cloud', () => {
    const cloud = join(dir, 'parts');
    const parts = (env: Record<string, string>) => withSettings(cloud, undefined, env, 'echo "$HEAT $HORIZON"').stdout;

    it('run by default; HEAT=no and HORIZON=no leave each out', () => {
      assert.equal(parts({}), 'yes yes');
      assert.equal(parts({ HEAT: 'no' }), 'no yes');
      assert.equal(parts({ HORIZON: 'no' }), 'yes no');
    });
  });

  describe('the release a directory holds (load_settings)', () => {
    const cloud = join(dir, 'cloud');
    const release = (settings: string | undefined, env: Record<string, string> = {}) =>
      withSettings(cloud, settings, env, 'echo "$OPENSTACK_RELEASE $RABBIT_QUORUM_QUEUES"');

    it('a new directory gets the default release, with quorum queues', () => {
      assert.equal(release(undefined).stdout, '2025.1 yes');
    });

    it('settings that name no release are Zed\'s (written before there were two), with classic queues', () => {
      assert.equal(release('SERVICE_HOST=127.0.0.1\nHEAT=yes\n').stdout, 'zed no');
    });

    it('a first up without Heat or Horizon saves every setting, the release and queues last among them', () => {
      rmSync(cloud, { recursive: true, force: true });
      mkdirSync(cloud);
      // HEAT_API_PORT and HORIZON_PORT have no value until HEAT=yes / HORIZON=yes (devstack/lib/heat.sh, horizon.sh)
      const r = bash(`. "${LIB}common.sh"; save_settings; cat "$LOCAL_CLOUD_DIR/settings"`, { LOCAL_CLOUD_DIR: cloud, OPENSTACK_RELEASE: '2025.1' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^OPENSTACK_RELEASE=2025\.1$/m);
      assert.match(r.stdout, /^RABBIT_QUORUM_QUEUES=yes$/m);
      assert.doesNotMatch(r.stdout, /^HEAT_API_PORT=/m);
      assert.equal(release(readFileSync(join(cloud, 'settings'), 'utf8')).stdout, '2025.1 yes', 'the next command finds the release');
    });

    it('a release other than the directory\'s is refused with the way out', () => {
      const r = release('OPENSTACK_RELEASE=zed\n', { OPENSTACK_RELEASE: '2025.1' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /holds a zed cloud, not 2025\.1: leave OPENSTACK_RELEASE out/);
      assert.equal(release('OPENSTACK_RELEASE=2025.1\n', { OPENSTACK_RELEASE: '2025.1' }).stdout, '2025.1 yes');
    });
  });

  describe('the engine a directory\'s servers run on (CONTAINER_ENGINE)', () => {
    const engine = (settings: string | undefined, env: Record<string, string> = {}) =>
      withSettings(join(dir, 'engine'), settings, env, 'echo "$CONTAINER_ENGINE"');

    it('a new directory\'s release\'s (podman from 2025.1, docker on zed); docker for settings from before the engine was kept; the one asked for', () => {
      assert.equal(engine(undefined).stdout, 'podman');
      assert.equal(engine(undefined, { OPENSTACK_RELEASE: 'zed' }).stdout, 'docker');
      assert.equal(engine('OPENSTACK_RELEASE=zed\n').stdout, 'docker');
      assert.equal(engine('OPENSTACK_RELEASE=2025.1\n').stdout, 'docker');
      assert.equal(engine(undefined, { CONTAINER_ENGINE: 'docker' }).stdout, 'docker');
      assert.equal(engine(undefined, { CONTAINER_ENGINE: 'podman' }).stdout, 'podman');
      assert.equal(engine('OPENSTACK_RELEASE=zed\nCONTAINER_ENGINE=podman\n').stdout, 'podman');
    });

    it('another engine than the directory\'s, or an unknown one, is refused', () => {
      const r = engine('OPENSTACK_RELEASE=zed\n', { CONTAINER_ENGINE: 'podman' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /runs its servers on docker, not podman: leave CONTAINER_ENGINE out/);
      const u = engine(undefined, { CONTAINER_ENGINE: 'lxc' });
      assert.equal(u.status, 1);
      assert.match(u.stderr, /CONTAINER_ENGINE=lxc: docker or podman/);
    });
  });

  describe('an operator\'s overrides of generated files (write_file)', () => {
    const cloud = join(dir, 'overridden');
    // writes PATH (relative to the cloud) with CONTENT; prints whether it changed, then the file
    const write = (path: string, content: string) => bash(
      `. "${LIB}common.sh"; if printf '%s' "$CONTENT" | write_file "$LOCAL_CLOUD_DIR/${path}"; then echo changed; else echo same; fi; cat "$LOCAL_CLOUD_DIR/${path}"`,
      { LOCAL_CLOUD_DIR: cloud, OPENSTACK_RELEASE: 'zed', CONTENT: content });
    before(() => {
      mkdirSync(join(cloud, 'overrides', 'nova'), { recursive: true });
      writeFileSync(join(cloud, 'settings'), 'OPENSTACK_RELEASE=zed\n');
      writeFileSync(join(cloud, 'overrides', 'nova', 'nova.conf'), '[DEFAULT]\ndebug = true\n');
    });

    it('the override of a file under etc/ follows what up generates, so its keys win', () => {
      const r = write('etc/nova/nova.conf', '[DEFAULT]\ndebug = false\n');
      assert.equal(r.status, 0, r.stderr);
      const [status, ...lines] = r.stdout.split('\n');
      assert.equal(status, 'changed');
      assert.deepEqual(lines.filter((l) => l.startsWith('debug')), ['debug = false', 'debug = true']);
      assert.match(r.stdout, /# from .*\/overrides\/nova\/nova\.conf/);
    });

    it('kept across the next up: the same content is unchanged, a changed override changes the file', () => {
      assert.equal(write('etc/nova/nova.conf', '[DEFAULT]\ndebug = false\n').stdout.split('\n')[0], 'same');
      writeFileSync(join(cloud, 'overrides', 'nova', 'nova.conf'), '[DEFAULT]\ndebug = true\nhost = other\n');
      const r = write('etc/nova/nova.conf', '[DEFAULT]\ndebug = false\n');
      assert.equal(r.stdout.split('\n')[0], 'changed');
      assert.match(r.stdout, /^host = other$/m);
    });

    it('files without an override, and files outside etc/, are written as given', () => {
      assert.equal(write('etc/nova/nova-db.conf', '[database]\n').stdout, 'changed\n[database]');
      mkdirSync(join(cloud, 'overrides', 'bin'), { recursive: true });
      writeFileSync(join(cloud, 'overrides', 'bin', 'tool'), 'echo extra\n');
      assert.equal(write('bin/tool', 'echo tool\n').stdout, 'changed\necho tool');
    });
  });
});

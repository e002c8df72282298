/**
 * The local cloud's podman keeps its per-boot state on disk (devstack/lib/podman.sh): after a
 * boot of the machine, and only then, its runroot and tmp_dir are emptied before the engine
 * starts, as the tmpfs podman expects there would be. Run in bash as the script does, with a
 * boot id of the test's making.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIB = fileURLToPath(new URL('../../../../devstack/lib/', import.meta.url));

describe('local cloud: podman\'s per-boot state after a boot of the machine', () => {
  const root = mkdtempSync(join(tmpdir(), 'nc-podman-boot-'));
  const dir = join(root, 'podman');
  const bootId = join(root, 'boot_id');
  after(() => rmSync(root, { recursive: true, force: true }));

  /** `running`: as start_engine calls it when the engine already runs. */
  function start(boot: string, running = false): string {
    writeFileSync(bootId, `${boot}\n`);
    const call = `forget_podman_boot_state "${dir}"${running ? ' running' : ''}`;
    const r = spawnSync('bash', ['-c', `set -euo pipefail; declare -A DAEMON_CONFIGS; HOST_PACKAGES=(); log() { echo "$*" >&2; }; . "${LIB}podman.sh"; ${call}`], {
      encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOCAL_CLOUD_DIR: root, ETC_DIR: join(root, 'etc'), BOOT_ID_FILE: bootId },
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stderr;
  }

  /** What podman left: its container state, its alive file (a dot file too), and the store, which is not per-boot. */
  function podmanWasHere(): void {
    mkdirSync(join(dir, 'run', 'btrfs-containers', 'c1', 'userdata'), { recursive: true });
    writeFileSync(join(dir, 'run', 'btrfs-containers', 'c1', 'userdata', 'pidfile'), '4242');
    writeFileSync(join(dir, 'run', '.lock'), '');
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    writeFileSync(join(dir, 'tmp', 'alive'), '');
    mkdirSync(join(dir, 'btrfs', 'graph'), { recursive: true });
    writeFileSync(join(dir, 'btrfs', 'graph', 'db.sql'), 'containers');
  }

  it('an engine already running when no boot is recorded (a cloud from before): its boot recorded, nothing cleared; a recorded one is kept', () => {
    podmanWasHere();
    start('boot-0', true);
    assert.equal(readFileSync(join(dir, 'boot_id'), 'utf8').trim(), 'boot-0');
    assert.ok(existsSync(join(dir, 'tmp', 'alive')));
    start('boot-9', true);
    assert.equal(readFileSync(join(dir, 'boot_id'), 'utf8').trim(), 'boot-0');
    rmSync(join(dir, 'boot_id'));
  });

  it('the first start records the boot and clears nothing: what an older cloud holds is not known to be stale', () => {
    podmanWasHere();
    start('boot-1');
    assert.equal(readFileSync(join(dir, 'boot_id'), 'utf8').trim(), 'boot-1');
    assert.ok(existsSync(join(dir, 'tmp', 'alive')));
    assert.ok(existsSync(join(dir, 'run', 'btrfs-containers', 'c1', 'userdata', 'pidfile')));
  });

  it('a start in the same boot (the engine restarted) clears nothing', () => {
    podmanWasHere();
    assert.doesNotMatch(start('boot-1'), /booted since/);
    assert.ok(existsSync(join(dir, 'tmp', 'alive')));
    assert.ok(existsSync(join(dir, 'run', '.lock')));
  });

  it('the first start after a boot empties the runroot and tmp_dir, dot files too, and keeps the store', () => {
    podmanWasHere();
    assert.match(start('boot-2'), /booted since podman last started/);
    assert.deepEqual(readdirSync(join(dir, 'run')), []);
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    assert.equal(readFileSync(join(dir, 'btrfs', 'graph', 'db.sql'), 'utf8'), 'containers');
    assert.equal(readFileSync(join(dir, 'boot_id'), 'utf8').trim(), 'boot-2');
  });
});

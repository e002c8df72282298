/**
 * `local-cloud.sh up` and the compute host it finds running (devstack/lib/nova_container.sh
 * start_compute_host): left alone when it runs with the current configuration and reported
 * lately; restarted when it runs but has not reported for COMPUTE_STALE_AFTER seconds (hung:
 * a process alive is not a service up). Run in bash as the script does, with the daemon and
 * database helpers stubbed to say what they were asked.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LIB = fileURLToPath(new URL('../../../../devstack/lib/', import.meta.url));

const STUBS = `
daemon_current() { [ "$CURRENT" = yes ]; }
mysql_() {
    echo "sql: $*" >&2
    case "$*" in
    *COUNT*) [ "$DB" = up ] || return 1; if [ "$FRESH" = yes ]; then echo 1; else echo 0; fi ;;
    *) echo 2026-01-01 ;;
    esac
}
die() { echo "died: $*" >&2; exit 1; }
host_mapped() { return 0; }
wait_for_compute() { echo "waited for $1" >&2; }
wait_for_serving() { :; }
api_compute_service() { :; }
build_nova_container() { :; }
stop_nova_container() { echo stopped >&2; }
start_nova_container() { echo started >&2; }
`;

function startComputeHost(env: Record<string, string>, status = 0): string {
  const script = `set -euo pipefail; declare -A DAEMON_CONFIGS DAEMON_STOP_MODE; start_daemon() { :; }; log() { echo "log: $*" >&2; };
    . "${LIB}nova_container.sh"; ${STUBS} start_compute_host`;
  const r = spawnSync('bash', ['-c', script], {
    encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ETC_DIR: '/nonexistent/etc', LOG_DIR: '/nonexistent/log', LOCAL_CLOUD_DIR: '/nonexistent', LOCAL_CLOUD_REPO: '/nonexistent/repo', COMPUTE_HOST: 'host1', DB: 'up', ...env },
  });
  assert.equal(r.status, status, r.stderr);
  return r.stderr;
}

describe('local cloud: up and a compute host that runs', () => {
  it('running with the current configuration and reported within 60 s: left alone', () => {
    const out = startComputeHost({ CURRENT: 'yes', FRESH: 'yes' });
    assert.match(out, /sql: -N -e SELECT COUNT\(\*\) FROM nova.services .* WHERE s.host = 'host1' .* s.last_seen_up >= UTC_TIMESTAMP\(\) - INTERVAL 60 SECOND/);
    assert.doesNotMatch(out, /stopped|started/);
  });

  it('running with the current configuration but silent for COMPUTE_STALE_AFTER: restarted, and said why', () => {
    const out = startComputeHost({ CURRENT: 'yes', FRESH: 'no', COMPUTE_STALE_AFTER: '15' });
    assert.match(out, /INTERVAL 15 SECOND/);
    assert.match(out, /log: nova-container runs but has not reported for 15s: restarting it/);
    assert.match(out, /stopped\n(.*\n)?started\nwaited for host1/);
  });

  it('MariaDB cannot tell when it last reported: up stops there, the host left running', () => {
    const out = startComputeHost({ CURRENT: 'yes', FRESH: 'no', DB: 'down' }, 1);
    assert.match(out, /died: cannot ask MariaDB when compute host host1 last reported/);
    assert.doesNotMatch(out, /stopped|started|has not reported/);
  });

  it('not running with the current configuration: (re)started without asking for its heartbeat first', () => {
    const out = startComputeHost({ CURRENT: 'no', FRESH: 'no' });
    assert.doesNotMatch(out, /COUNT|has not reported/);
    assert.match(out, /stopped\n(.*\n)?started\nwaited for host1/);
  });
});

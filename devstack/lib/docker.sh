# The container engine (Docker Engine API, Debian's docker.io).
#
# The first part is shared with the devstack plugin (devstack/plugin.sh sources this file
# without lib/common.sh): functions only, nothing set or run when sourced. The second part is
# the local cloud's dockerd (needs lib/common.sh; skipped without it): its own socket, data
# root, exec root and pidfile under the state dir (never /var/run/docker.sock), --live-restore
# so containers survive a restart of the engine.

# docker_daemon_json BASE [KEY=JSON...]: prints a daemon.json: the object in file BASE (none:
# an empty one) with each KEY set to the JSON value (e.g. live-restore=true). Without BASE
# content and keys: `{}`. Merging needs python3; the result is the same for the same input, so
# a caller can compare it with what is on disk and restart dockerd only on a change.
docker_daemon_json() {
    local base=$1
    shift
    if { [ -z "$base" ] || [ ! -s "$base" ]; } && [ $# -eq 0 ]; then
        echo '{}'
        return 0
    fi
    python3 - "$base" "$@" <<'PY_'
import json, sys
base, pairs = sys.argv[1], sys.argv[2:]
conf = {}
if base:
    try:
        with open(base) as f:
            text = f.read()
        conf = json.loads(text) if text.strip() else {}
    except FileNotFoundError:
        pass
if not isinstance(conf, dict):
    sys.exit(base + ": not a JSON object")
for pair in pairs:
    key, _, value = pair.partition("=")
    conf[key] = json.loads(value)
print(json.dumps(conf, indent=2, sort_keys=True))
PY_
}

# docker_ping SOCKET: the engine at unix socket path SOCKET answers /_ping. curl runs as
# `$DOCKER_API_SUDO curl` (empty by default; the devstack plugin, which runs as the stack user,
# sets sudo: the socket is root's)
docker_ping() {
    [ "$(${DOCKER_API_SUDO:-} curl -s --max-time 2 --unix-socket "$1" http://localhost/_ping 2>/dev/null)" = OK ]
}

# docker_wait SOCKET TIMEOUT [ALIVE_CMD...]: until the engine answers (0); 1 after TIMEOUT
# seconds; 2 as soon as ALIVE_CMD (e.g. a check that dockerd still runs) fails
docker_wait() {
    local socket=$1 timeout=$2 i
    shift 2
    for ((i = 0; i < timeout * 10; i++)); do
        docker_ping "$socket" && return 0
        if [ $# -gt 0 ] && ! "$@"; then return 2; fi
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- the local cloud's part
declare -F start_daemon >/dev/null || return 0

DOCKER_DIR=$LOCAL_CLOUD_DIR/docker
DOCKER_SOCKET=$DOCKER_DIR/docker.sock
# The data root is a btrfs file system in the file DOCKER_DISK_IMG (DOCKER_DISK_GB, sparse),
# loop-mounted: Docker's btrfs storage driver gives each container a root file system of a
# hard size (its flavor's root_gb), which overlay2 cannot on this host's ext4 (nor on its XFS,
# built without quota support). It stays mounted across `down`: containers outlive dockerd
# (--live-restore). With DOCKER_USERNS=yes, --userns-remap=default: root in a container is
# one of dockremap's unprivileged subordinate ids on the host.
DOCKER_DATA_ROOT=$DOCKER_DIR/btrfs
DOCKER_DISK_IMG=$DOCKER_DIR/btrfs.img
DAEMON_CONFIGS[dockerd]=$ETC_DIR/docker/daemon.json

# docker_ CMD...: the docker CLI against our engine
docker_() { docker -H "unix://$DOCKER_SOCKET" "$@"; }

configure_docker() {
    mkdir -p "$DOCKER_DIR" "$DOCKER_DATA_ROOT" "$DOCKER_DIR/exec"
    chmod 711 "$DOCKER_DIR"
    mount_docker_disk
    # a daemon.json of our own: /etc/docker/daemon.json must not apply
    local opts=(storage-driver='"btrfs"')
    [ "$DOCKER_USERNS" != yes ] || opts+=(userns-remap='"default"')
    docker_daemon_json "" "${opts[@]}" | write_file "$ETC_DIR/docker/daemon.json" 644 || true
}

# mount_docker_disk: the btrfs file system of the data root, made once, mounted (again after a
# reboot) unless it is; start_docker turns its quotas on
mount_docker_disk() {
    mountpoint -q "$DOCKER_DATA_ROOT" && return 0
    if [ -s "$DOCKER_DISK_IMG" ]; then
        mount -o loop "$DOCKER_DISK_IMG" "$DOCKER_DATA_ROOT" || die "cannot mount $DOCKER_DISK_IMG on $DOCKER_DATA_ROOT (a loop device is needed)"
        return 0
    fi
    log "making the engine's btrfs data root: $DOCKER_DISK_IMG, ${DOCKER_DISK_GB} GB (sparse)"
    rm -f "$DOCKER_DISK_IMG.new"
    truncate -s "${DOCKER_DISK_GB}G" "$DOCKER_DISK_IMG.new"
    mkfs.btrfs -q -f "$DOCKER_DISK_IMG.new" >/dev/null || die "mkfs.btrfs $DOCKER_DISK_IMG failed"
    mount -o loop "$DOCKER_DISK_IMG.new" "$DOCKER_DATA_ROOT" || die "cannot mount $DOCKER_DISK_IMG on $DOCKER_DATA_ROOT (a loop device is needed)"
    mv "$DOCKER_DISK_IMG.new" "$DOCKER_DISK_IMG"   # the loop device follows the file
}

# btrfs_simple_quota DIR: btrfs simple quotas (Linux 6.7+; bookworm's btrfs-progs 6.2 cannot
# ask for them) before the engine turns on full ones. A simple quota charges an extent to the
# subvolume that wrote it, so a container's size counts what it wrote, not its image, and
# removing a container leaves nothing to reconcile. With full quotas this kernel marked the
# quota groups inconsistent as soon as the engine removed a container ("qgroup marked
# inconsistent, to be deleted qgroup 0/262 has non-zero numbers"), and no limit held until a
# rescan: writes went past a 1 GB size.
btrfs_simple_quota() {
    python3 - "$1" <<'PY_'
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
# BTRFS_IOC_QUOTA_CTL = _IOWR(0x94, 40, {u64 cmd; u64 status}); cmd 4: enable simple quotas
fcntl.ioctl(fd, 0xC0109428, struct.pack('QQ', 4, 0))
PY_
}

# raise_key_quota: runc gives each container a session keyring, charged to the host uid of
# its root. With user namespace remapping every container's root is the same uid, and the
# kernel's default quota for a user (kernel.keys.maxkeys 200, maxbytes 20000) stopped every
# start past about 100 servers ("unable to create session key: disk quota exceeded"). Room
# for 20000 keys (10000 servers, two containers each; about 70 bytes a key); never lowered.
raise_key_quota() {
    local name value
    for name in maxkeys:20000 maxbytes:1400000; do
        value=${name#*:} name=${name%%:*}
        [ "$(cat "/proc/sys/kernel/keys/$name")" -ge "$value" ] || sysctl -qw "kernel.keys.$name=$value" ||
            log "warning: cannot raise kernel.keys.$name to $value: with user namespace remapping, container starts fail past about 100 servers"
    done
}

# simple_quota_on: the data root's quotas in simple mode before dockerd starts: on a new file
# system, and after dockerd 20.10 stopped with no container running, when its btrfs driver
# turns quotas off (with one running, live-restore leaves them). Its next sized container would
# turn them on again as full quotas (with a rescan), which this kernel marks inconsistent as
# soon as a container is removed: root disk limits then stopped holding.
simple_quota_on() {
    local mode
    mode=$(cat "/sys/fs/btrfs/$(findmnt -no UUID "$DOCKER_DATA_ROOT")/qgroups/mode" 2>/dev/null || echo off)
    [ "$mode" != squota ] || return 0
    [ "$mode" = off ] || btrfs quota disable "$DOCKER_DATA_ROOT" || die "cannot turn off the $mode quotas of $DOCKER_DATA_ROOT"
    btrfs_simple_quota "$DOCKER_DATA_ROOT" || die "cannot turn on btrfs simple quotas on $DOCKER_DATA_ROOT (Linux 6.7 or later is needed)"
    log "btrfs simple quotas on for the engine's data root (they were $mode)"
}

start_docker() {
    [ "$DOCKER_USERNS" != yes ] || raise_key_quota
    daemon_running dockerd || simple_quota_on
    start_daemon dockerd "$DOCKER_SOCKET" /usr/sbin/dockerd \
        --host "unix://$DOCKER_SOCKET" \
        --data-root "$DOCKER_DATA_ROOT" \
        --exec-root "$DOCKER_DIR/exec" \
        --pidfile "$DOCKER_DIR/dockerd.pid" \
        --config-file "$ETC_DIR/docker/daemon.json" \
        --live-restore \
        ${DOCKERD_EXTRA_ARGS:-}
}

wait_docker() {
    local rc=0
    docker_wait "$DOCKER_SOCKET" 60 daemon_running dockerd || rc=$?
    case $rc in
        0) ;;
        2) tail -n 20 "$LOG_DIR/dockerd.log" >&2; die "dockerd exited (log: $LOG_DIR/dockerd.log)" ;;
        *) die "dockerd does not answer on $DOCKER_SOCKET after 60s (log: $LOG_DIR/dockerd.log)" ;;
    esac
}

# Containers keep running (--live-restore); dockerd stops its own containerd.
stop_docker() { stop_daemon dockerd 60; }

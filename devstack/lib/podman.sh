# The container engine podman (Debian's podman), CONTAINER_ENGINE=podman: the local cloud's
# engine (ENGINE_DAEMON, ENGINE_SOCKET, configure_engine, start_engine, wait_engine,
# stop_engine; lib/docker.sh is the other) as `podman system service` serving the
# Docker-compatible API on a socket of its own, with its own configuration (never
# /etc/containers) and a btrfs store (lib/btrfs_store.sh) under the state dir. Containers
# outlive the service (each under its conmon), as dockerd's do with --live-restore. On zed it is
# bookworm's podman (4.3) on the host; on 2025.1 trixie's (5.4), run in the release's root as the
# compute host's Open vSwitch is (lib/release.sh), since it is the podman a host of that release
# runs. What nova-container does differently on it: src/runtime/podman-engine.ts and
# src/runtime/README.md. Needs lib/common.sh, and on 2025.1 lib/release.sh and
# lib/nova_container.sh.

# docker_wait, wait_engine (lib/engine_api.sh)
# shellcheck source=lib/engine_api.sh
. "$(dirname "${BASH_SOURCE[0]}")/engine_api.sh"

PODMAN_EXEC=()
if [ -n "${RELEASE_ROOT:-}" ]; then
    # the runtime containers.conf names; netavark, which podman 5 needs even with no network
    RELEASE_PACKAGES+=(podman runc conmon netavark catatonit)
    # not chroot (RELEASE_EXEC): the kernel refuses a user namespace, which runc makes for every
    # container, to a chrooted process ("failed to unshare user namespace: Operation not
    # permitted"). A mount namespace of its own whose root is the release's root (pivot_root; the
    # root is a mount, lib/release.sh), the machine's left behind once it moved there.
    PODMAN_EXEC=(unshare --mount --propagation private -- sh -c 'cd "$1" && mkdir -p .machine &&
        pivot_root . .machine && shift && exec chroot . sh -c "umount -l /.machine && exec \"\$@\"" sh "$@"'
        release-root "$RELEASE_ROOT")
else
    HOST_PACKAGES+=(podman)
fi

# engine_instance N: the engine of compute host N (1: the cloud's own; 2 and up: the hosts
# lib/compute_hosts.sh adds, each with an engine, a store and a configuration of its own)
engine_instance() {
    local n=${1:-1}
    ENGINE_DAEMON=podman
    PODMAN_DIR=$LOCAL_CLOUD_DIR/podman
    PODMAN_ETC=$ETC_DIR/containers
    if [ "$n" != 1 ]; then
        ENGINE_DAEMON=podman-$n
        PODMAN_DIR=$LOCAL_CLOUD_DIR/host$n/podman
        PODMAN_ETC=$ETC_DIR/host$n/containers
    fi
    PODMAN_HOST=$n
    ENGINE_SOCKET=$PODMAN_DIR/podman.sock
    PODMAN_STORE=$PODMAN_DIR/btrfs
    PODMAN_DISK_IMG=$PODMAN_DIR/btrfs.img
    DAEMON_CONFIGS[$ENGINE_DAEMON]="$PODMAN_ETC/containers.conf $PODMAN_ETC/storage.conf $PODMAN_ETC/registries.conf"
}
engine_instance 1

configure_engine() {
    mkdir -p "$PODMAN_DIR" "$PODMAN_STORE" "$PODMAN_DIR/run" "$PODMAN_DIR/tmp"
    chmod 711 "$PODMAN_DIR"
    mount_btrfs_store "$PODMAN_DISK_IMG" "$PODMAN_STORE" "$DOCKER_DISK_GB"
    # no pids limit of podman's own (each container gets its flavor's); open files and
    # processes below podman's defaults (its own hard limits), which runc may not set here;
    # dockerd's default capabilities, which podman 4.3 has too and 5.4 narrows (no NET_RAW,
    # MKNOD, AUDIT_WRITE: no ping in a server), so a server can do the same on every engine; the
    # events in a file (no journald); images only from Glance (no registry is searched)
    write_file "$PODMAN_ETC/containers.conf" 644 <<EOF || true
[containers]
netns = "none"
pids_limit = 0
log_driver = "k8s-file"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
default_capabilities = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_DIR/events.log"
tmp_dir = "$PODMAN_DIR/tmp"
$(podman_lock_type)
EOF
    write_file "$PODMAN_ETC/storage.conf" 644 <<EOF || true
[storage]
driver = "btrfs"
graphroot = "$PODMAN_STORE/graph"
runroot = "$PODMAN_DIR/run"
EOF
    write_file "$PODMAN_ETC/registries.conf" 644 <<EOF || true
unqualified-search-registries = []
EOF
}

# podman_lock_type: the first engine on the host keeps podman's default locks, in one shared
# memory segment of the machine (/dev/shm/libpod_lock; a store with containers cannot change its
# lock type); every other engine, and every engine in a release's root (whose podman may lay the
# segment out differently), keeps its locks in files of its own, so that its refresh after a
# boot, which takes again every lock its containers name, never meets one another engine holds
podman_lock_type() { [ "$ENGINE_DAEMON" = podman ] && [ -z "${RELEASE_ROOT:-}" ] || echo 'lock_type = "file"'; }

# forget_podman_boot_state DIR [running]: podman keeps what holds for one boot of the machine (its
# runroot, DIR/run, and its tmp_dir, DIR/tmp, whose `alive` file tells it the machine has
# not booted since) where containers.conf(5) wants a tmpfs, wiped at each boot. Here both
# are on disk: after a boot (the kernel's boot_id differs from the one recorded at the
# engine's last start) they are emptied as a tmpfs would be, and podman reports the
# containers stopped, not running with processes that died with the machine.
# `running`: the engine runs, so its state is this boot's, recorded if no boot is yet.
forget_podman_boot_state() {
    local dir=$1 boot
    boot=$(cat "${BOOT_ID_FILE:-/proc/sys/kernel/random/boot_id}")
    if [ "${2:-}" = running ]; then
        [ -f "$dir/boot_id" ] || echo "$boot" >"$dir/boot_id"
        return 0
    fi
    if [ -f "$dir/boot_id" ] && [ "$(cat "$dir/boot_id")" != "$boot" ]; then
        log "$dir: the machine booted since podman last started: its per-boot state cleared"
        find "$dir/run" "$dir/tmp" -mindepth 1 -delete
    fi
    echo "$boot" >"$dir/boot_id"
}

start_engine() {
    [ "$DOCKER_USERNS" != yes ] || raise_key_quota
    forget_podman_boot_state "$PODMAN_DIR" "$(daemon_running "$ENGINE_DAEMON" && echo running)"
    daemon_running "$ENGINE_DAEMON" || simple_quota_on "$PODMAN_STORE"
    # TMPDIR: a load or import through the Docker routes leaves its upload there (podman 4.3;
    # nova-container uses libpod's, which do not), cleared at each start
    daemon_running "$ENGINE_DAEMON" || rm -rf "${PODMAN_DIR:?}/tmp/"api_load.tar*
    # in the release's root it serves, from the machine's paths, its own directory and
    # nova-container's state, where the files bound into containers are (src/runtime/podman-engine.ts)
    [ -z "${RELEASE_ROOT:-}" ] || release_bind "$PODMAN_DIR" "$(compute_state_dir "$PODMAN_HOST")"
    start_daemon "$ENGINE_DAEMON" "$ENGINE_SOCKET" "${PODMAN_EXEC[@]}" env \
        CONTAINERS_CONF="$PODMAN_ETC/containers.conf" \
        CONTAINERS_STORAGE_CONF="$PODMAN_ETC/storage.conf" \
        CONTAINERS_REGISTRIES_CONF="$PODMAN_ETC/registries.conf" \
        TMPDIR="$PODMAN_DIR/tmp" \
        podman system service --time=0 "unix://$ENGINE_SOCKET"
}

# Containers keep running under their conmon processes.
stop_engine() { stop_daemon "$ENGINE_DAEMON" 60; }

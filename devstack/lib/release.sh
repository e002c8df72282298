# The OpenStack release of the control plane (OPENSTACK_RELEASE, kept in the settings):
#   zed     Debian bookworm's packages on this host; Neutron ML2 with the Linux bridge agent
#   2025.1  Debian trixie's packages in a chroot under $LOCAL_CLOUD_DIR/root (debootstrap);
#           Neutron ML2/OVN, the compute host's Open vSwitch and ovn-controller run there too
# nova-container itself always runs on the host. RELEASE_EXEC prefixes every command of the
# control plane (empty for zed); the cloud's etc, data, logs, run and state directories are
# mounted at the same paths inside the chroot, so configs name one path in and out of it.

release_suite() {
    case $1 in
        zed) echo bookworm ;;
        2025.1) echo trixie ;;
        *) return 1 ;;
    esac
}
release_suite "$OPENSTACK_RELEASE" >/dev/null ||
    die "OPENSTACK_RELEASE=$OPENSTACK_RELEASE: this cloud knows zed and 2025.1"

if [ "$OPENSTACK_RELEASE" = zed ]; then
    RELEASE_ROOT=
    RELEASE_EXEC=()
    NEUTRON_BACKEND=linuxbridge
else
    RELEASE_ROOT=$LOCAL_CLOUD_DIR/root
    RELEASE_EXEC=(chroot "$RELEASE_ROOT")
    NEUTRON_BACKEND=ovn
fi

# in_release CMD...: CMD as the control plane's release runs it
in_release() { "${RELEASE_EXEC[@]}" "$@"; }

# release_file PATH: where a file the release's packages installed is seen from the host
release_file() { echo "$RELEASE_ROOT$1"; }

RELEASE_MOUNTS=(etc data logs run state)

# mount_release_root: /proc, /sys, /dev and the cloud's directories inside the chroot (idempotent)
mount_release_root() {
    local d
    # the root a mount of its own, before anything is mounted in it: podman's layer unpacking
    # makes `/` private (containers/storage's chrootarchive), which a plain directory refuses
    # ("remount /, flags: 0x44000: invalid argument")
    mountpoint -q "$RELEASE_ROOT" || mount --rbind "$RELEASE_ROOT" "$RELEASE_ROOT"
    mountpoint -q "$RELEASE_ROOT/proc" || mount -t proc proc "$RELEASE_ROOT/proc"
    mountpoint -q "$RELEASE_ROOT/sys" || mount -t sysfs sysfs "$RELEASE_ROOT/sys"
    # a new sysfs has no cgroup file system: the machine's, where the release's engine (podman,
    # lib/podman.sh) makes its containers' cgroups
    mountpoint -q "$RELEASE_ROOT/sys/fs/cgroup" || mount --rbind /sys/fs/cgroup "$RELEASE_ROOT/sys/fs/cgroup"
    mountpoint -q "$RELEASE_ROOT/dev" || mount --rbind /dev "$RELEASE_ROOT/dev"
    for d in "${RELEASE_MOUNTS[@]}"; do
        mkdir -p "$LOCAL_CLOUD_DIR/$d" "$RELEASE_ROOT$LOCAL_CLOUD_DIR/$d"
        mountpoint -q "$RELEASE_ROOT$LOCAL_CLOUD_DIR/$d" ||
            mount --bind "$LOCAL_CLOUD_DIR/$d" "$RELEASE_ROOT$LOCAL_CLOUD_DIR/$d"
    done
    # the host's name and resolver: RabbitMQ's node name is rabbit@<this host>
    cp -f /etc/hosts /etc/resolv.conf "$RELEASE_ROOT/etc/"
}

# release_bind DIR...: each DIR (made if missing) seen at the same path inside the release's root,
# with the file systems mounted under it by then (idempotent)
release_bind() {
    local d
    for d in "$@"; do
        mkdir -p "$d" "$RELEASE_ROOT$d"
        mountpoint -q "$RELEASE_ROOT$d" || mount --rbind "$d" "$RELEASE_ROOT$d"
    done
}

# umount_release_root: everything mounted in the root, deepest first, then the root; lazily, since a process of
# the root may outlive `down` (the epmd that RabbitMQ started serves every Erlang node of the
# machine, the other cloud's broker too)
umount_release_root() {
    [ -n "$RELEASE_ROOT" ] && [ -d "$RELEASE_ROOT" ] || return 0
    local m
    findmnt -rn -o TARGET | awk -v root="$RELEASE_ROOT" '$0 == root || index($0, root "/") == 1' | sort -r |
        while read -r m; do
            ! mountpoint -q "$m" || umount -R -l "$m" || log "cannot unmount $m"
        done
}

# debian_mirror: the first URIs of the host's Debian sources (the mirror this machine reaches)
debian_mirror() {
    local uri
    uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

# ensure_release_root: the chroot exists (debootstrap once) and is mounted
ensure_release_root() {
    [ -n "$RELEASE_ROOT" ] || return 0
    if ! [ -x "$RELEASE_ROOT/usr/bin/apt-get" ]; then
        local suite t0=$SECONDS
        suite=$(release_suite "$OPENSTACK_RELEASE")
        command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
        log "creating the $OPENSTACK_RELEASE root ($suite) in $RELEASE_ROOT"
        # a root left half made: unmounted first, so that nothing mounted in it is removed
        umount_release_root
        rm -rf --one-file-system "$RELEASE_ROOT" "$RELEASE_ROOT.new"
        debootstrap --variant=minbase "$suite" "$RELEASE_ROOT.new" "$(debian_mirror)" \
            >"$LOG_DIR/debootstrap.log" 2>&1 || die "debootstrap failed (log: $LOG_DIR/debootstrap.log)"
        mv "$RELEASE_ROOT.new" "$RELEASE_ROOT"
        log "debootstrap of $suite took $((SECONDS - t0)) s"
    fi
    mount_release_root
}

# The container engine's store (lib/docker.sh, lib/podman.sh): a btrfs file system in a sparse
# file, loop-mounted. An engine's btrfs storage driver gives each container a root file system
# of a hard size (its flavor's root_gb), which overlay cannot on this host's ext4 (nor on its
# XFS, built without quota support). It stays mounted across `down`: containers outlive their
# engine. Needs lib/common.sh.

# mount_btrfs_store IMG DIR GB: the file system in IMG (made once, GB sparse) mounted on DIR
# (again after a reboot) unless it is; simple_quota_on turns its quotas on
mount_btrfs_store() {
    local img=$1 dir=$2 gb=$3
    mountpoint -q "$dir" && return 0
    if [ -s "$img" ]; then
        mount -o loop "$img" "$dir" || die "cannot mount $img on $dir (a loop device is needed)"
        return 0
    fi
    log "making the engine's btrfs store: $img, ${gb} GB (sparse)"
    rm -f "$img.new"
    truncate -s "${gb}G" "$img.new"
    mkfs.btrfs -q -f "$img.new" >/dev/null || die "mkfs.btrfs $img failed"
    mount -o loop "$img.new" "$dir" || die "cannot mount $img on $dir (a loop device is needed)"
    mv "$img.new" "$img"   # the loop device follows the file
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

# simple_quota_on DIR: the store's quotas in simple mode before the engine starts: on a new
# file system, and after dockerd 20.10 stopped with no container running, when its btrfs driver
# turns quotas off (with one running, live-restore leaves them). Its next sized container would
# turn them on again as full quotas (with a rescan), which this kernel marks inconsistent as
# soon as a container is removed: root disk limits then stopped holding.
simple_quota_on() {
    local dir=$1 mode
    mode=$(cat "/sys/fs/btrfs/$(findmnt -no UUID "$dir")/qgroups/mode" 2>/dev/null || echo off)
    [ "$mode" != squota ] || return 0
    [ "$mode" = off ] || btrfs quota disable "$dir" || die "cannot turn off the $mode quotas of $dir"
    btrfs_simple_quota "$dir" || die "cannot turn on btrfs simple quotas on $dir (Linux 6.7 or later is needed)"
    log "btrfs simple quotas on for the engine's store (they were $mode)"
}

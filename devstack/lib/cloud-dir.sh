# Which local cloud a command addresses; sourced before anything else, since the directory's
# lock is taken before its settings are read. test/helpers/cloud-dir.ts follows the same rule.
#
# Each release's cloud has its own directory, and so has each engine's:
# /opt/nova-container-cloud for zed, /opt/nova-container-cloud-<release> for another, with
# -podman after it for CONTAINER_ENGINE=podman, the default from 2025.1 (a directory keeps the
# engine of its first `up`).
# LOCAL_CLOUD_DIR names any directory.

# the release a new cloud gets when OPENSTACK_RELEASE is not set
DEFAULT_OPENSTACK_RELEASE=2025.1
# the directory of the cloud that is up (written by `up`, removed by its `down`)
: "${ACTIVE_CLOUD_FILE:=/run/nova-container-cloud.active}"

# release_default_engine RELEASE: the engine a new cloud of RELEASE runs its servers on when
# CONTAINER_ENGINE is not set: podman from 2025.1 (trixie's 5.4, lib/podman.sh), dockerd on zed
# (bookworm's podman 4.3 is the option there)
release_default_engine() { if [ "$1" = zed ]; then echo docker; else echo podman; fi; }

# release_cloud_dir RELEASE [ENGINE]
release_cloud_dir() {
    local dir=/opt/nova-container-cloud engine=${2:-$(release_default_engine "$1")}
    [ "$1" = zed ] || dir=$dir-$1
    [ "$engine" = docker ] || dir=$dir-$engine
    echo "$dir"
}

# set_cloud_dir [COMMAND]: LOCAL_CLOUD_DIR, else the directory of OPENSTACK_RELEASE and
# CONTAINER_ENGINE when either is set (the default release, its default engine), else (but for `up` and
# `prepare`, which make a cloud) the cloud that is up, else the default release's
set_cloud_dir() {
    if [ -z "${LOCAL_CLOUD_DIR:-}" ]; then
        if [ -n "${OPENSTACK_RELEASE:-}${CONTAINER_ENGINE:-}" ]; then
            LOCAL_CLOUD_DIR=$(release_cloud_dir "${OPENSTACK_RELEASE:-$DEFAULT_OPENSTACK_RELEASE}" "${CONTAINER_ENGINE:-}")
        elif [ "${1:-}" != up ] && [ "${1:-}" != prepare ] && [ -s "$ACTIVE_CLOUD_FILE" ]; then
            LOCAL_CLOUD_DIR=$(cat "$ACTIVE_CLOUD_FILE")
        else
            LOCAL_CLOUD_DIR=$(release_cloud_dir "$DEFAULT_OPENSTACK_RELEASE")
        fi
    fi
    export LOCAL_CLOUD_DIR
}

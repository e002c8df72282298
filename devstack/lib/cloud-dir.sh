# Which local cloud a command addresses; sourced before anything else, since the directory's
# lock is taken before its settings are read. test/helpers/cloud-dir.ts follows the same rule.
#
# Each release's cloud has its own directory: /opt/nova-container-cloud for zed,
# /opt/nova-container-cloud-<release> for another. LOCAL_CLOUD_DIR names any directory.

# the release a new cloud gets when OPENSTACK_RELEASE is not set
DEFAULT_OPENSTACK_RELEASE=2025.1
# the directory of the cloud that is up (written by `up`, removed by its `down`)
: "${ACTIVE_CLOUD_FILE:=/run/nova-container-cloud.active}"

release_cloud_dir() {
    if [ "$1" = zed ]; then echo /opt/nova-container-cloud; else echo "/opt/nova-container-cloud-$1"; fi
}

# set_cloud_dir [COMMAND]: LOCAL_CLOUD_DIR, else the directory of OPENSTACK_RELEASE, else (but
# for `up` and `prepare`, which make a cloud) the cloud that is up, else the default release's
set_cloud_dir() {
    if [ -z "${LOCAL_CLOUD_DIR:-}" ]; then
        if [ -n "${OPENSTACK_RELEASE:-}" ]; then
            LOCAL_CLOUD_DIR=$(release_cloud_dir "$OPENSTACK_RELEASE")
        elif [ "${1:-}" != up ] && [ "${1:-}" != prepare ] && [ -s "$ACTIVE_CLOUD_FILE" ]; then
            LOCAL_CLOUD_DIR=$(cat "$ACTIVE_CLOUD_FILE")
        else
            LOCAL_CLOUD_DIR=$(release_cloud_dir "$DEFAULT_OPENSTACK_RELEASE")
        fi
    fi
    export LOCAL_CLOUD_DIR
}

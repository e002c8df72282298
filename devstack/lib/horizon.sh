# Horizon (openstack-dashboard) on uwsgi, 127.0.0.1:$HORIZON_PORT; on unless HORIZON=no.
#
# Configuration: Debian's openstack_dashboard.settings reads /etc/openstack-dashboard/
# local_settings.py (a symlink from the package's local/ dir) and local_settings.d/*.py. Those
# stay the package's: like every other service here, Horizon gets its config under $ETC_DIR, a
# settings module of its own (horizon/local_cloud_settings.py, DJANGO_SETTINGS_MODULE) that
# imports the package's settings and then sets what the local cloud needs. None of what it sets
# feeds a value settings.py derives after loading local_settings (WEBROOT and STATIC_URL stay).
# Sessions are files under $DATA_DIR/horizon/sessions (no memcached; several uwsgi processes
# share them), the cache is per process (locmem). Static files are collected and compressed
# (COMPRESS_OFFLINE) into $DATA_DIR/horizon/static once per settings and package version, and
# uwsgi serves them itself (static-map): no Apache.

: "${HORIZON_PORT:=8080}"

HORIZON_ETC=$ETC_DIR/horizon
HORIZON_DATA=$DATA_DIR/horizon
HORIZON_SETTINGS=$HORIZON_ETC/local_cloud_settings.py
HORIZON_URL="http://$SERVICE_HOST:$HORIZON_PORT"
HORIZON_SERVICES=(horizon:$HORIZON_PORT)
DAEMON_CONFIGS[horizon]="$HORIZON_SETTINGS $HORIZON_ETC/wsgi.py $ETC_DIR/uwsgi/horizon.ini"

# chromium (and a font for it) is for the browser test (test/integration/clients/horizon.test.ts)
horizon_packages() { echo openstack-dashboard; }
horizon_host_packages() { echo chromium fonts-dejavu-core; }

configure_horizon() {
    mkdir -p "$HORIZON_DATA/sessions" "$HORIZON_DATA/static"
    chmod 700 "$HORIZON_DATA/sessions"
    write_file "$HORIZON_SETTINGS" <<EOF2 || true
# Horizon of the local cloud (written by devstack/lib/horizon.sh, rewritten by every up)
from openstack_dashboard.settings import *  # noqa: F401,F403
from horizon.utils import secret_key as _secret_key

DEBUG = False
ALLOWED_HOSTS = ['$SERVICE_HOST', 'localhost']
SECRET_KEY = _secret_key.generate_or_read_from_file('$HORIZON_DATA/secret_key')

OPENSTACK_HOST = '$SERVICE_HOST'
OPENSTACK_KEYSTONE_URL = '$KEYSTONE_URL'
OPENSTACK_KEYSTONE_DEFAULT_DOMAIN = 'Default'
OPENSTACK_ENDPOINT_TYPE = 'publicURL'
AVAILABLE_REGIONS = []
TIME_ZONE = 'UTC'

# no memcached: sessions in files (shared by the uwsgi processes), cache per process
SESSION_ENGINE = 'django.contrib.sessions.backends.file'
SESSION_FILE_PATH = '$HORIZON_DATA/sessions'
CACHES = {'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}

# collected and compressed once by up (manage.py collectstatic, compress); served by uwsgi
STATIC_ROOT = '$HORIZON_DATA/static'
COMPRESS_ROOT = STATIC_ROOT
COMPRESS_ENABLED = True
COMPRESS_OFFLINE = True

# the Console tab is the serial console (nova-serialproxy): with AUTO each opening would first
# try VNC, SPICE and RDP, three calls the compute host refuses
CONSOLE_TYPE = 'SERIAL'
# the tab frames Horizon's own serial page (/project/instances/<id>/serial), which Django's
# default X-Frame-Options (DENY) keeps the browser from showing; other sites still cannot frame it
X_FRAME_OPTIONS = 'SAMEORIGIN'

# no Cinder in this cloud: images boot without a new volume
LAUNCH_INSTANCE_DEFAULTS = dict(LAUNCH_INSTANCE_DEFAULTS, create_volume=False)

LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {'plain': {'format': '%(asctime)s %(levelname)s %(name)s %(message)s'}},
    'handlers': {'stderr': {'class': 'logging.StreamHandler', 'formatter': 'plain'}},
    'root': {'handlers': ['stderr'], 'level': 'WARNING'},
    'loggers': {'horizon.operation_log': {'level': 'INFO'}},
}
EOF2
    write_file "$HORIZON_ETC/wsgi.py" <<EOF2 || true
# WSGI entry of the local cloud's Horizon (Debian's wsgi.py forces its own settings module)
import os
import sys

sys.path.insert(0, '$HORIZON_ETC')
os.environ['DJANGO_SETTINGS_MODULE'] = 'local_cloud_settings'

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
EOF2
    write_uwsgi_ini horizon "$HORIZON_PORT" "$HORIZON_ETC/wsgi.py" 2 4 \
        "static-map = /static=$HORIZON_DATA/static
offload-threads = 2"
}

# Debian's /usr/bin/python3: another python3 earlier in PATH (pyenv's, here) has no Django
horizon_manage() {
    env PYTHONPATH="$HORIZON_ETC" DJANGO_SETTINGS_MODULE=local_cloud_settings \
        "${RELEASE_EXEC[@]}" /usr/bin/python3 /usr/share/openstack-dashboard/manage.py "$@"
}

# The serial console's page loads $HORIZON_ANGULAR by itself, not compressed. Debian's xstatic
# packages of angular and angular_schema_form name the same directory, and Django's finder keeps
# one prefix per directory: collectstatic puts the files under angular_schema_form only. The
# file goes where the page asks for it, from where Horizon's own lookup finds it.
HORIZON_ANGULAR=horizon/lib/angular/angular.js
collect_horizon_angular() {
    [ ! -f "$HORIZON_DATA/static/$HORIZON_ANGULAR" ] || return 0
    local src
    src=$(horizon_manage findstatic --first -v 0 "$HORIZON_ANGULAR" 2>/dev/null | tail -n 1)
    [ -n "$src" ] || { echo "findstatic does not find $HORIZON_ANGULAR" >&2; return 1; }
    mkdir -p "$(dirname "$HORIZON_DATA/static/$HORIZON_ANGULAR")"
    in_release cp "$src" "$HORIZON_DATA/static/$HORIZON_ANGULAR"
}

# The compressed CSS/JS depend on the settings and on the installed Horizon: rebuilt when either
# changed (the checksum of both is kept next to them).
build_horizon_static() {
    local sum
    sum=$({ cat "$HORIZON_SETTINGS"; in_release dpkg-query -W -f='${Version}\n' python3-django-horizon openstack-dashboard; } | md5sum | cut -c1-32)
    if [ "$(cat "$HORIZON_DATA/static.sum" 2>/dev/null)" = "$sum" ] &&
        [ -f "$HORIZON_DATA/static/dashboard/manifest.json" ] && [ -f "$HORIZON_DATA/static/$HORIZON_ANGULAR" ]; then
        return 0
    fi
    log "collecting and compressing Horizon's static files"
    rm -f "$HORIZON_DATA/static.sum"
    {
        horizon_manage collectstatic --noinput --clear -v 0 &&
            horizon_manage compress --force -v 0 &&
            collect_horizon_angular
    } >>"$LOG_DIR/horizon-manage.log" 2>&1 ||
        die "building Horizon's static files failed (log: $LOG_DIR/horizon-manage.log)"
    echo "$sum" >"$HORIZON_DATA/static.sum"
}

start_horizon() {
    ensure_port_free horizon "$HORIZON_PORT"
    start_daemon horizon "$ETC_DIR/uwsgi/horizon.ini" "${RELEASE_EXEC[@]}" /usr/bin/uwsgi --ini "$ETC_DIR/uwsgi/horizon.ini"
}

# wait_horizon [TIMEOUT]: until Horizon answers, then its login page must have the login form
wait_horizon() {
    wait_for_http horizon "$HORIZON_URL/auth/login/" "${1:-120}"
    # the page first, then grep: `curl | grep -q` fails under pipefail when grep stops reading early
    local page
    page=$(curl -sf --max-time 30 "$HORIZON_URL/auth/login/" || true)
    grep -q 'name="password"' <<<"$page" ||
        die "Horizon answers at $HORIZON_URL/auth/login/ without its login form (log: $LOG_DIR/horizon.log)"
}

up_horizon() {
    configure_horizon
    build_horizon_static
    start_horizon
    wait_horizon 120
    log "Horizon: $HORIZON_URL/ (users admin and demo, passwords in openrc and demorc)"
}

down_horizon() { stop_daemon horizon 30; }

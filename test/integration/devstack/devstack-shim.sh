# Stand-ins for the devstack functions devstack/settings and devstack/plugin.sh call, with
# devstack's names and calling conventions (functions-common, inc/ini-config), written for
# test/integration/devstack/plugin.test.ts. Calls that would change the machine (packages,
# systemctl, sudo) are recorded in $SHIM_CALLS; run_process starts the command in its own
# session, under the capability bounding set $RUN_PROCESS_CAPS (the systemd unit's) with
# no_new_privs, logging to $SERVICE_LOG_DIR/NAME.log, its pid in $SERVICE_DIR/NAME.pid; with
# $RUN_PROCESS_OWNER (the test runner's pid) set, a watcher kills the command's process group
# (its session's, the command leading it) once that pid is gone, so a runner killed before its
# cleanup leaves no service, nor a child of it, behind.
die() { local line=$1; shift; echo "[ERROR] line $line: $*" >&2; exit 1; }
warn() { local line=$1; shift; echo "[WARNING] line $line: $*" >&2; }
echo_summary() { echo "summary: $*"; }
define_plugin() { echo "define_plugin $*" >>"$SHIM_CALLS"; }
plugin_requires() { :; }
is_service_enabled() {
    local s
    for s in "$@"; do [[ ,$ENABLED_SERVICES, == *,$s,* ]] && return 0; done
    return 1
}
enable_service() { local s; for s in "$@"; do is_service_enabled "$s" || ENABLED_SERVICES+=",$s"; done; }
disable_service() {
    local s list=",$ENABLED_SERVICES,"
    for s in "$@"; do list=${list//,$s,/,}; done
    list=${list#,}; ENABLED_SERVICES=${list%,}
}
install_package() { echo "install_package $*" >>"$SHIM_CALLS"; }
sudo() { echo "sudo $*" >>"$SHIM_CALLS"; "$@"; }
record() { echo "$*" >>"$SHIM_CALLS"; }
SYSTEMCTL="record systemctl"
iniget() {
    [[ -f $1 ]] || return 0
    awk -v section="$2" -v key="$3" '
        /^[ \t]*\[.*\][ \t]*$/ { line = $0; gsub(/^[ \t]*\[|\][ \t]*$/, "", line); cur = line; next }
        cur == section && index($0, "=") > 0 {
            k = substr($0, 1, index($0, "=") - 1); gsub(/^[ \t]+|[ \t]+$/, "", k)
            if (k == key) { v = substr($0, index($0, "=") + 1); gsub(/^[ \t]+|[ \t]+$/, "", v); val = v }
        }
        END { print val }' "$1"
}
iniset() {
    python3 -c '
import sys
path, section, key, value = sys.argv[1:5]
lines = open(path).read().splitlines()
out, cur, done, seen = [], None, False, False
for line in lines:
    s = line.strip()
    if s.startswith("[") and s.endswith("]"):
        if cur == section and not done:
            out.append(key + " = " + value); done = True
        cur = s[1:-1]; seen = seen or cur == section
    elif cur == section and "=" in s and s.split("=", 1)[0].strip() == key:
        if not done:
            out.append(key + " = " + value); done = True
        continue
    out.append(line)
if not done:
    if not seen:
        out += ["", "[" + section + "]"]
    out.append(key + " = " + value)
open(path, "w").write("\n".join(out) + "\n")
' "$1" "$2" "$3" "$4"
}
run_process() {
    local name=$1 command=$2 group=$3 user=$4
    echo "run_process $name user=$user group=$group" >>"$SHIM_CALLS"
    is_service_enabled "$name" || return 0
    mkdir -p "$SERVICE_DIR" "$SERVICE_LOG_DIR"
    local wrap=""
    [[ -z ${RUN_PROCESS_CAPS:-} ]] || wrap="setpriv --bounding-set -all,$RUN_PROCESS_CAPS --inh-caps -all --no-new-privs --"
    setsid bash -c "exec $wrap $command" </dev/null >>"$SERVICE_LOG_DIR/$name.log" 2>&1 &
    local pid=$!
    echo $pid >"$SERVICE_DIR/$name.pid"
    if [[ -n ${RUN_PROCESS_OWNER:-} ]]; then
        setsid bash -c 'while kill -0 "$1" && kill -0 "$2"; do sleep 1; done 2>/dev/null; kill -KILL -- -"$2" 2>/dev/null' \
            watch "$RUN_PROCESS_OWNER" "$pid" </dev/null >/dev/null 2>&1 &
    fi
}
stop_process() {
    local name=$1 pid i
    echo "stop_process $name" >>"$SHIM_CALLS"
    [[ -f $SERVICE_DIR/$name.pid ]] || return 0
    pid=$(cat "$SERVICE_DIR/$name.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$SERVICE_DIR/$name.pid"
}

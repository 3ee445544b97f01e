# Shell functions shared by deploy/local/kafka.sh, deploy/local/registry.sh and deploy/flink/flink.sh
# (sourced, not run).
# The caller defines log() (its own prefix) before calling them.

# terminate PID LABEL TIMEOUT: SIGTERM, wait up to TIMEOUT seconds for the process to exit, then
# SIGKILL and wait for it to be gone, so a stopped service has released its ports and files.
terminate() {
    local pid="$1" label="$2" timeout="$3"
    log "stopping $label (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + timeout))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$label still running after ${timeout}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
}

# with_lock LOCKFILE COMMAND...: run COMMAND holding an exclusive lock on LOCKFILE (when flock
# exists), so two concurrent `up`s or an `up` racing a `down` cannot interleave.
with_lock() {
    local lock="$1"
    shift
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$lock"
        flock 9
    fi
    "$@"
}

# usage_from_header LAST_LINE: print the script's header comment (lines 2..LAST_LINE) and exit 2.
usage_from_header() {
    sed -n "2,${1}p" "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# launch_daemon PIDFILE LOGFILE COMMAND...: run COMMAND in a session (and process group) of its
# own, so Ctrl-C in the calling terminal or test run does not reach it; `exec` keeps the pid
# written to PIDFILE the command's own; fd 9 (the lock of with_lock) is not inherited. Output is
# appended to LOGFILE. Returns once PIDFILE is written (at most 5 s): the caller then waits for
# the service to answer.
launch_daemon() {
    local pid_file="$1" log_file="$2"
    shift 2
    rm -f "$pid_file"
    # shellcheck disable=SC2016
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$pid_file" "$@" \
        </dev/null >>"$log_file" 2>&1 9>&- &
    local waited=0
    until [[ -s "$pid_file" ]] || ((waited >= 50)); do
        sleep 0.1
        waited=$((waited + 1))
    done
}

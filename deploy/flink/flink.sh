#!/usr/bin/env bash
# Beam's Flink job server and a standalone Flink session cluster, from Maven Central jars: no Flink
# tarball (flink-dist is not served), no Docker.
#
#   deploy/flink/flink.sh jar      resolve the job server (once; cached) and print its jar's path
#   deploy/flink/flink.sh up       start a JobManager and a TaskManager on localhost, REST on :8081
#   deploy/flink/flink.sh down     stop the processes `up` started (SIGTERM, then SIGKILL)
#   deploy/flink/flink.sh status   exit 0 if the cluster's REST API answers with a TaskManager, 3 if not
#
# Every subcommand is idempotent. The cluster runs the entry points of Flink's own scripts
# (StandaloneSessionClusterEntrypoint, TaskManagerRunner) on the job server's classpath, which holds
# flink-runtime, flink-clients and flink-rpc-akka-loader of the same Flink version; the memory flags
# are computed by Flink's BashJavaUtils from conf/config.yaml, as bin/jobmanager.sh does. Environment:
#   NEWSFLOW_FLINK_HOME     cluster state: pid files and logs (default deploy/flink/.cache/cluster)
#   FLINK_START_TIMEOUT     seconds to wait for the REST API and a registered TaskManager (default 90)
#   FLINK_STOP_TIMEOUT      seconds to wait after SIGTERM before SIGKILL (default 30)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="$HERE/.cache"
BUILD_DIR="$CACHE/job-server"
JAR="$BUILD_DIR/beam-flink-job-server.jar"
LIBS_DIR="$BUILD_DIR/lib"
STAMP="$BUILD_DIR/.resolved"
CONF_DIR="$HERE/conf"
FLINK_HOME_DIR="${NEWSFLOW_FLINK_HOME:-$CACHE/cluster}"
START_TIMEOUT="${FLINK_START_TIMEOUT:-90}"
STOP_TIMEOUT="${FLINK_STOP_TIMEOUT:-30}"
REST_URL="http://localhost:8081"

# What Flink's default configuration passes to every JVM on Java 17 (env.java.opts.all): its RPC
# and Kryo serialization reach into these JDK packages.
JAVA17_OPTS=(
    --add-exports=java.base/sun.net.util=ALL-UNNAMED
    --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
    --add-opens=java.base/java.lang=ALL-UNNAMED
    --add-opens=java.base/java.net=ALL-UNNAMED
    --add-opens=java.base/java.io=ALL-UNNAMED
    --add-opens=java.base/java.nio=ALL-UNNAMED
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens=java.base/java.text=ALL-UNNAMED
    --add-opens=java.base/java.time=ALL-UNNAMED
    --add-opens=java.base/java.util=ALL-UNNAMED
    --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
    --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
    --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

log() { printf 'flink.sh: %s\n' "$*" >&2; }
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
die() { log "error: $*"; exit 1; }

resolve_jar() {
    local pom_sum
    pom_sum="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
    if [[ -f "$STAMP" && -f "$JAR" && "$(<"$STAMP")" == "$pom_sum" ]]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found; install Maven 3 (and Java 17+)"
    mkdir -p "$CACHE"
    log "resolving Beam's Flink job server into $BUILD_DIR (first run downloads ~160 MB)"
    rm -rf "$BUILD_DIR"
    # Maven 3.8 writes stray colour codes even with -q, so its output is shown only on failure.
    local mvn_log="$CACHE/mvn.log"
    mvn -q -B -f "$HERE/pom.xml" package </dev/null >"$mvn_log" 2>&1 \
        || { tail -n 40 "$mvn_log" >&2; die "mvn could not resolve the job server (log: $mvn_log)"; }
    [[ -f "$JAR" ]] || die "mvn finished but $JAR is missing (log: $mvn_log)"
    printf '%s' "$pom_sum" >"$STAMP"
}

# Flink's JVM flags (line 1) and dynamic memory properties (line 2) for a process, computed from
# conf/config.yaml by the same utility bin/taskmanager.sh calls.
memory_params() {
    local command="$1" out
    out="$(java -cp "$LIBS_DIR/*" org.apache.flink.runtime.util.bash.BashJavaUtils "$command" \
        --configDir "$CONF_DIR" 2>&1)" || { printf '%s\n' "$out" >&2; die "BashJavaUtils failed"; }
    grep '^BASH_JAVA_UTILS_EXEC_RESULT:' <<<"$out" | sed 's/^BASH_JAVA_UTILS_EXEC_RESULT://'
}

# The pid in a pid file, if that process is still ours (a recycled pid is not).
process_pid() {
    local pid_file="$FLINK_HOME_DIR/$1.pid" main_class="$2" pid
    [[ -f "$pid_file" ]] || return 1
    pid="$(<"$pid_file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$main_class" || return 1
    printf '%s' "$pid"
}

start_process() {
    local name="$1" main_class="$2" params_command="$3" params jvm_flags dynamic_props
    if process_pid "$name" "$main_class" >/dev/null; then
        log "$name already running"
        return 0
    fi
    params="$(memory_params "$params_command")"
    jvm_flags="$(sed -n 1p <<<"$params")"
    dynamic_props="$(sed -n 2p <<<"$params")"
    log "starting $name (log: $FLINK_HOME_DIR/$name.log)"
    # A session of its own, so Ctrl-C in the calling terminal does not reach it; `exec` keeps the
    # written pid the java pid; fd 9 (the lock) is not inherited.
    # shellcheck disable=SC2016,SC2086
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$FLINK_HOME_DIR/$name.pid" \
        java $jvm_flags "${JAVA17_OPTS[@]}" \
        -Dlog.file="$FLINK_HOME_DIR/$name.log" \
        -Dlog4j.configurationFile="$CONF_DIR/log4j2.properties" \
        -cp "$LIBS_DIR/*" "$main_class" --configDir "$CONF_DIR" $dynamic_props \
        </dev/null >>"$FLINK_HOME_DIR/$name.out" 2>&1 9>&- &
    local waited=0
    until [[ -s "$FLINK_HOME_DIR/$name.pid" ]] || ((waited >= 50)); do
        sleep 0.1
        waited=$((waited + 1))
    done
}

# 0 when the REST API answers and at least one TaskManager has registered.
answering() {
    curl -fsS --max-time 3 "$REST_URL/overview" 2>/dev/null | grep -q '"taskmanagers":[1-9]'
}

wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until answering; do
        if ! process_pid jobmanager StandaloneSessionClusterEntrypoint >/dev/null \
            || ! process_pid taskmanager TaskManagerRunner >/dev/null; then
            show_failure
            stop_all
            die "a Flink process exited during start-up"
        fi
        if ((SECONDS >= deadline)); then
            show_failure
            stop_all
            die "no TaskManager registered at $REST_URL within ${START_TIMEOUT}s"
        fi
        sleep 1
    done
}

show_failure() {
    local name
    for name in jobmanager taskmanager; do
        log "errors in $FLINK_HOME_DIR/$name.log and $name.out:"
        cat "$FLINK_HOME_DIR/$name.out" 2>/dev/null | tail -n 5 >&2 || true
        grep -E ' (ERROR|FATAL) ' "$FLINK_HOME_DIR/$name.log" 2>/dev/null | tail -n 10 >&2 || true
    done
}

stop_process() {
    local name="$1" main_class="$2" pid
    if pid="$(process_pid "$name" "$main_class")"; then
        terminate "$pid" "$name" "$STOP_TIMEOUT"
    fi
    rm -f "$FLINK_HOME_DIR/$name.pid"
}

stop_all() {
    stop_process taskmanager TaskManagerRunner
    stop_process jobmanager StandaloneSessionClusterEntrypoint
}

cmd_up() {
    command -v java >/dev/null 2>&1 || die "java not found; install Java 17+"
    command -v curl >/dev/null 2>&1 || die "curl not found (used to check the REST API)"
    if answering && ! process_pid jobmanager StandaloneSessionClusterEntrypoint >/dev/null; then
        log "a Flink cluster not started by this script already answers on $REST_URL; using it"
        return 0
    fi
    resolve_jar
    start_process jobmanager org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
        GET_JM_RESOURCE_PARAMS
    start_process taskmanager org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
        GET_TM_RESOURCE_PARAMS
    wait_ready
    log "up on $REST_URL (web UI and REST API; submit with --flink_master=localhost:8081)"
}

cmd_down() {
    stop_all
    log "stopped"
}

cmd_status() {
    if answering; then
        echo "up on $REST_URL"
        return 0
    fi
    echo "down on $REST_URL"
    return 3
}

# One `up` or `down` at a time per cluster home.
usage() { usage_from_header 9; }

main() {
    (($# == 1)) || usage
    mkdir -p "$FLINK_HOME_DIR"
    FLINK_HOME_DIR="$(cd "$FLINK_HOME_DIR" && pwd)"
    case "$1" in
        jar) with_lock "$FLINK_HOME_DIR/.lock" resolve_jar && printf '%s\n' "$JAR" ;;
        up) with_lock "$FLINK_HOME_DIR/.lock" cmd_up ;;
        down) with_lock "$FLINK_HOME_DIR/.lock" cmd_down ;;
        status) cmd_status ;;
        *) usage ;;
    esac
}

main "$@"

#!/usr/bin/env bash
# Beam's Flink job server and a standalone Flink session cluster with Beam's Python worker pool,
# from Maven Central jars and .venv-flink: no Flink tarball (flink-dist is not served), no Docker.
#
#   deploy/flink/flink.sh jar      resolve the job server (once; cached) and print its jar's path
#   deploy/flink/flink.sh up       start what is not running: a JobManager (REST on :8081),
#                                  FLINK_TASKMANAGERS TaskManagers and the Python worker pool
#   deploy/flink/flink.sh down     stop the processes `up` started (SIGTERM, then SIGKILL)
#   deploy/flink/flink.sh status   print `NAME PID` per running process; exit 0 when all run and
#                                  the REST API answers, 3 if not
#
# Every subcommand is idempotent; `up` after a process died starts only its replacement. The cluster
# runs the entry points of Flink's own scripts (StandaloneSessionClusterEntrypoint,
# TaskManagerRunner) on the job server's classpath, which holds flink-runtime, flink-clients,
# flink-rpc-akka-loader and flink-statebackend-rocksdb of the same Flink version; the memory flags
# are computed by Flink's BashJavaUtils from conf/config.yaml, as bin/jobmanager.sh does. The worker
# pool is pipelines/worker_pool.py from .venv-flink (Beam's worker_pool_main, made safe for several
# TaskManagers sharing one pool), in a process group of its own so a kill of the group takes its
# SDK workers with it, as a crashed Kubernetes sidecar would. State:
# RocksDB, incremental checkpoints under $NEWSFLOW_FLINK_HOME/checkpoints, savepoints under
# $NEWSFLOW_FLINK_HOME/savepoints. Environment:
#   NEWSFLOW_FLINK_HOME     cluster state: pid files, logs, checkpoints, savepoints
#                           (default deploy/flink/.cache/cluster)
#   FLINK_TASKMANAGERS      TaskManagers to run (default 3, one slot each, see conf/config.yaml:
#                           a job at the default parallelism 2 uses two, the third is a standby
#                           a restore takes at once when a busy one dies)
#   FLINK_WORKER_POOL_PORT  port of the worker pool, --environment_config=localhost:PORT (50000)
#   FLINK_READY_WORKERS     SDK workers the pool keeps started, newsflow and spaCy loaded (default
#                           3: after a lost TaskManager the survivor and the standby both ask,
#                           and a restore that fails again asks once more)
#   NEWSFLOW_FLINK_VENV     virtualenv the SDK workers run from (default .venv-flink)
#   FLINK_START_TIMEOUT     seconds to wait for the REST API and the TaskManagers (default 120)
#   FLINK_STOP_TIMEOUT      seconds to wait after SIGTERM before SIGKILL (default 30)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="$HERE/.cache"
BUILD_DIR="$CACHE/job-server"
JAR="$BUILD_DIR/beam-flink-job-server.jar"
LIBS_DIR="$BUILD_DIR/lib"
STAMP="$BUILD_DIR/.resolved"
OPTIONS_SRC="$HERE/rocksdb"
OPTIONS_DIR="$CACHE/rocksdb-options"
CONF_DIR="$HERE/conf"
FLINK_HOME_DIR="${NEWSFLOW_FLINK_HOME:-$CACHE/cluster}"
TASKMANAGERS="${FLINK_TASKMANAGERS:-3}"
POOL_PORT="${FLINK_WORKER_POOL_PORT:-50000}"
READY_WORKERS="${FLINK_READY_WORKERS:-3}"
VENV="${NEWSFLOW_FLINK_VENV:-$ROOT/.venv-flink}"
START_TIMEOUT="${FLINK_START_TIMEOUT:-120}"
STOP_TIMEOUT="${FLINK_STOP_TIMEOUT:-30}"
REST_URL="http://localhost:8081"
JM_CLASS=org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint
TM_CLASS=org.apache.flink.runtime.taskexecutor.TaskManagerRunner
POOL_MODULE=pipelines.worker_pool

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
    log "resolving Beam's Flink job server into $BUILD_DIR (first run downloads ~210 MB)"
    rm -rf "$BUILD_DIR"
    # Maven 3.8 writes stray colour codes even with -q, so its output is shown only on failure.
    local mvn_log="$CACHE/mvn.log"
    mvn -q -B -f "$HERE/pom.xml" package </dev/null >"$mvn_log" 2>&1 \
        || { tail -n 40 "$mvn_log" >&2; die "mvn could not resolve the job server (log: $mvn_log)"; }
    [[ -f "$JAR" ]] || die "mvn finished but $JAR is missing (log: $mvn_log)"
    printf '%s' "$pom_sum" >"$STAMP"
}

# Compile the RocksDB options factory (rocksdb/, named in conf/config.yaml) against the job server's
# Flink and RocksDB jars, unless its classes are newer than its sources. Every Flink process loads
# it: the JobManager when it configures the job's state backend, a TaskManager for each RocksDB.
compile_options() {
    local sources
    mapfile -t sources < <(find "$OPTIONS_SRC" -name '*.java')
    if [[ -d "$OPTIONS_DIR" && -z "$(find "${sources[@]}" -newer "$OPTIONS_DIR")" ]]; then
        return 0
    fi
    command -v javac >/dev/null 2>&1 || die "javac not found; install a Java 17+ JDK"
    rm -rf "$OPTIONS_DIR" "$OPTIONS_DIR.tmp"
    mkdir -p "$OPTIONS_DIR.tmp"
    javac -nowarn -d "$OPTIONS_DIR.tmp" -cp "$LIBS_DIR/*" "${sources[@]}" \
        || die "javac could not compile $OPTIONS_SRC"
    mv "$OPTIONS_DIR.tmp" "$OPTIONS_DIR"
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
    local pid_file="$FLINK_HOME_DIR/$1.pid" marker="$2" pid
    [[ -f "$pid_file" ]] || return 1
    pid="$(<"$pid_file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$marker" || return 1
    printf '%s' "$pid"
}

# launch NAME COMMAND...: run COMMAND as NAME (launch_daemon); output goes to NAME.out.
launch() {
    local name="$1"
    shift
    launch_daemon "$FLINK_HOME_DIR/$name.pid" "$FLINK_HOME_DIR/$name.out" "$@"
}

# start_java NAME MAIN_CLASS PARAMS_COMMAND [-D key=value ...]: a Flink process, unless running.
start_java() {
    local name="$1" main_class="$2" params_command="$3" params jvm_flags dynamic_props
    shift 3
    if process_pid "$name" "$main_class" >/dev/null; then
        return 0
    fi
    params="$(memory_params "$params_command")"
    jvm_flags="$(sed -n 1p <<<"$params")"
    dynamic_props="$(sed -n 2p <<<"$params")"
    log "starting $name (log: $FLINK_HOME_DIR/$name.log)"
    # shellcheck disable=SC2086
    launch "$name" java $jvm_flags "${JAVA17_OPTS[@]}" \
        -Dlog.file="$FLINK_HOME_DIR/$name.log" \
        -Dlog4j.configurationFile="$CONF_DIR/log4j2.properties" \
        -cp "$LIBS_DIR/*:$OPTIONS_DIR" "$main_class" --configDir "$CONF_DIR" $dynamic_props \
        -D "state.checkpoints.dir=file://$FLINK_HOME_DIR/checkpoints" \
        -D "state.savepoints.dir=file://$FLINK_HOME_DIR/savepoints" "$@"
}

# A TaskManager, under a resource id of its own per start: the REST API then tells a replacement
# from the process it replaces (see tm_registered).
start_taskmanager() {
    local name="$1" id
    if process_pid "$name" "$TM_CLASS" >/dev/null; then
        return 0
    fi
    forget_working_dir "$name"
    id="$name-$(date +%s%N)"
    printf '%s' "$id" >"$FLINK_HOME_DIR/$name.id"
    start_java "$name" "$TM_CLASS" GET_TM_RESOURCE_PARAMS -D "taskmanager.resource-id=$id"
}

# Remove the working directory (java.io.tmpdir/tm_RESOURCE-ID: the job's jars from the blob
# server, 0.2 GB per job, RocksDB files) of the TaskManager NAME last started, which no longer
# runs. A TaskManager with a configured resource id keeps it on exit for local recovery, and each
# start here has an id of its own, so without this every kill, replacement and `down` left one
# in /tmp (11 GB after an afternoon of failover benchmarks).
forget_working_dir() {
    local id
    id="$(cat "$FLINK_HOME_DIR/$1.id" 2>/dev/null)" || return 0
    [[ "$id" == "$1"-* ]] && rm -rf "/tmp/tm_$id"
    return 0
}

# The worker pool, after checking that the venv's python can import what a worker needs: a
# worker that cannot start would otherwise leave the job waiting for it, not failing.
start_pool() {
    if process_pid workerpool "$POOL_MODULE" >/dev/null; then
        return 0
    fi
    [[ -x "$VENV/bin/python" ]] || die "no $VENV/bin/python: run \`make flink-venv\`"
    PATH="$VENV/bin:$PATH" python -c 'import apache_beam, pipelines, transforms' 2>/dev/null \
        || die "$VENV cannot import apache_beam and newsflow: run \`make flink-venv\`"
    log "starting workerpool on localhost:$POOL_PORT (log: $FLINK_HOME_DIR/workerpool.out)"
    PATH="$VENV/bin:$PATH" launch workerpool "$VENV/bin/python" -m "$POOL_MODULE" \
        --service_port="$POOL_PORT" --ready-workers="$READY_WORKERS"
}

taskmanager_names() {
    local i
    for ((i = 1; i <= TASKMANAGERS; i++)); do
        printf 'taskmanager-%d\n' "$i"
    done
}

# 0 when the REST API answers.
answering() {
    curl -fsS --max-time 3 "$REST_URL/overview" >/dev/null 2>&1
}

# 0 when the TaskManager NAME, as last started, has registered with the JobManager.
tm_registered() {
    local id
    id="$(cat "$FLINK_HOME_DIR/$1.id" 2>/dev/null)" || return 1
    curl -fsS --max-time 3 "$REST_URL/taskmanagers" 2>/dev/null | grep -q "\"id\":\"$id\""
}

pool_listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$POOL_PORT") 2>/dev/null
}

# The processes of this cluster as `NAME MARKER` lines (MARKER: what its command line holds).
processes() {
    printf 'jobmanager %s\n' "$JM_CLASS"
    taskmanager_names | sed "s|\$| $TM_CLASS|"
    printf 'workerpool %s\n' "$POOL_MODULE"
}

all_ready() {
    local name marker
    answering && pool_listening || return 1
    while read -r name marker; do
        process_pid "$name" "$marker" >/dev/null || return 1
        [[ "$name" != taskmanager-* ]] || tm_registered "$name" || return 1
    done < <(processes)
}

wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT)) name marker
    until all_ready; do
        while read -r name marker; do
            if ! process_pid "$name" "$marker" >/dev/null; then
                show_failure "$name"
                die "$name exited during start-up (\`flink.sh down\` stops the rest)"
            fi
        done < <(processes)
        if ((SECONDS >= deadline)); then
            die "the cluster was not ready at $REST_URL within ${START_TIMEOUT}s (logs in $FLINK_HOME_DIR)"
        fi
        sleep 1
    done
}

show_failure() {
    local name="$1"
    log "errors in $FLINK_HOME_DIR/$name.log and $name.out:"
    tail -n 5 "$FLINK_HOME_DIR/$name.out" >&2 2>/dev/null || true
    grep -E ' (ERROR|FATAL) ' "$FLINK_HOME_DIR/$name.log" 2>/dev/null | tail -n 10 >&2 || true
}

# Stop NAME; the worker pool's whole process group, so its SDK workers go with it.
stop_process() {
    local name="$1" marker="$2" pid
    if pid="$(process_pid "$name" "$marker")"; then
        terminate "$pid" "$name" "$STOP_TIMEOUT"
        [[ "$name" != workerpool ]] || kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$FLINK_HOME_DIR/$name.pid"
    [[ "$name" != taskmanager* ]] || forget_working_dir "$name"
}

# Every process this script may have started, TaskManagers beyond FLINK_TASKMANAGERS included.
stop_all() {
    local pid_file name
    stop_process workerpool "$POOL_MODULE"
    for pid_file in "$FLINK_HOME_DIR"/taskmanager*.pid; do
        [[ -e "$pid_file" ]] || continue
        name="$(basename "$pid_file" .pid)"
        stop_process "$name" "$TM_CLASS"
    done
    stop_process jobmanager "$JM_CLASS"
}

ours_running() {
    local name marker
    while read -r name marker; do
        process_pid "$name" "$marker" >/dev/null && return 0
    done < <(processes)
    return 1
}

cmd_up() {
    command -v java >/dev/null 2>&1 || die "java not found; install Java 17+"
    command -v curl >/dev/null 2>&1 || die "curl not found (used to check the REST API)"
    [[ "$TASKMANAGERS" =~ ^[1-9][0-9]*$ ]] || die "FLINK_TASKMANAGERS must be >= 1"
    if answering && ! ours_running; then
        log "a Flink cluster not started by this script already answers on $REST_URL; using it"
        return 0
    fi
    resolve_jar
    compile_options
    mkdir -p "$FLINK_HOME_DIR/checkpoints" "$FLINK_HOME_DIR/savepoints"
    start_java jobmanager "$JM_CLASS" GET_JM_RESOURCE_PARAMS
    local name
    while read -r name; do
        start_taskmanager "$name"
    done < <(taskmanager_names)
    start_pool
    wait_ready
    log "up on $REST_URL with $TASKMANAGERS TaskManagers; SDK workers from localhost:$POOL_PORT"
}

cmd_down() {
    stop_all
    log "stopped"
}

cmd_status() {
    local name marker pid
    while read -r name marker; do
        if pid="$(process_pid "$name" "$marker")"; then
            printf '%s %s\n' "$name" "$pid"
        fi
    done < <(processes)
    if ours_running; then
        all_ready || return 3
    else
        answering || return 3
    fi
}

usage() { usage_from_header 11; }

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

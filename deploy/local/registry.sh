#!/usr/bin/env bash
# Local schema registry (Apicurio Registry, in-memory storage) for `newsflow run --value-format
# confluent` and its tests, unpacked from Maven Central: no Docker.
#
#   deploy/local/registry.sh up       resolve the app (once; cached), start it, wait until it answers
#   deploy/local/registry.sh down     stop the registry started by `up` (SIGTERM, then SIGKILL)
#   deploy/local/registry.sh status   exit 0 if the Confluent-compatible API answers, 3 if not
#
# Every subcommand is idempotent. The Confluent-compatible API is at
# http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7; the global compatibility rule is BACKWARD (the
# Confluent default), so a schema change old readers cannot take is refused. Storage is in memory:
# a restart forgets every schema (producers register theirs again at start). Environment:
#   REGISTRY_PORT            HTTP port on 127.0.0.1 (default 8085)
#   NEWSFLOW_REGISTRY_HOME   pid file and registry.log (default deploy/local/.cache/registry)
#   REGISTRY_START_TIMEOUT   seconds to wait for the API to answer (default 300; it starts in ~15 s
#                            on an idle 2-core machine, over 2 minutes under heavy load)
#   REGISTRY_STOP_TIMEOUT    seconds to wait after SIGTERM before SIGKILL (default 30)
#   JAVA_HOME                a Java >= 21 to use; else the newest >= 21 under JVM_DIR or on PATH
#   JVM_DIR                  where JDKs are installed (default /usr/lib/jvm)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APICURIO_VERSION="3.3.3"
ARTIFACT="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all"
APP_DIR="$HERE/.cache/apicurio-registry-$APICURIO_VERSION"
REGISTRY_PORT="${REGISTRY_PORT:-8085}"
HOME_DIR="${NEWSFLOW_REGISTRY_HOME:-$HERE/.cache/registry}"
START_TIMEOUT="${REGISTRY_START_TIMEOUT:-300}"
STOP_TIMEOUT="${REGISTRY_STOP_TIMEOUT:-30}"
API_URL="http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
MIN_JAVA=21
JVM_DIR="${JVM_DIR:-/usr/lib/jvm}"

log() { printf 'registry.sh: %s\n' "$*" >&2; }
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
die() { log "error: $*"; exit 1; }

# The major version of the java binary $1 ("17", "25"), or nothing if it does not run.
java_major() {
    "$1" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1
}

# Apicurio 3 needs Java 21+, while the broker and Flink run on the machine's default (often 17):
# JAVA_HOME first, then every JDK under JVM_DIR (newest first), then java on PATH.
find_java() {
    local candidate major
    for candidate in "${JAVA_HOME:+$JAVA_HOME/bin/java}" \
        $(ls -d "$JVM_DIR"/*/bin/java 2>/dev/null | sort -rV) \
        "$(command -v java 2>/dev/null || true)"; do
        [[ -n "$candidate" && -x "$candidate" ]] || continue
        major="$(java_major "$candidate")"
        if [[ -n "$major" ]] && ((major >= MIN_JAVA)); then
            printf '%s' "$candidate"
            return 0
        fi
    done
    die "no Java >= $MIN_JAVA found (looked at JAVA_HOME, $JVM_DIR/*, PATH); Apicurio Registry $APICURIO_VERSION needs one: install e.g. openjdk-21-jdk-headless and/or set JAVA_HOME"
}

resolve_app() {
    [[ -f "$APP_DIR/quarkus-run.jar" ]] && return 0
    command -v mvn >/dev/null 2>&1 || die "mvn not found; install Maven 3"
    log "unpacking $ARTIFACT into $APP_DIR (first run downloads ~150 MB from Maven Central)"
    rm -rf "$APP_DIR.partial"
    mkdir -p "$HOME_DIR"
    # Maven 3.8 writes stray colour codes even with -q, so its output is shown only on failure.
    # Without a pom, the plugin writes its markers under the working directory: run it in ours.
    local mvn_log="$HOME_DIR/mvn.log"
    (cd "$HOME_DIR" && mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.6.1:unpack \
        -Dartifact="$ARTIFACT" -DoutputDirectory="$APP_DIR.partial") </dev/null >"$mvn_log" 2>&1 \
        || { tail -n 40 "$mvn_log" >&2; die "mvn could not resolve $ARTIFACT (log: $mvn_log)"; }
    [[ -f "$APP_DIR.partial/quarkus-run.jar" ]] || die "no quarkus-run.jar in $ARTIFACT"
    mv "$APP_DIR.partial" "$APP_DIR"
}

# The pid in the pid file, if that process is still our registry (a recycled pid is not ours).
registry_pid() {
    local pid_file="$HOME_DIR/registry.pid" pid
    [[ -f "$pid_file" ]] || return 1
    pid="$(<"$pid_file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'quarkus-run\.jar' || return 1
    printf '%s' "$pid"
}

answering() { curl -fsS --max-time 3 "$API_URL/subjects" >/dev/null 2>&1; }

start_registry() {
    local java="$1"
    log "starting Apicurio Registry $APICURIO_VERSION on 127.0.0.1:$REGISTRY_PORT ($java; log: $HOME_DIR/registry.log)"
    # The management interface (health, metrics; built in, :9000 on every address by default)
    # gets a free port on loopback only: nothing here uses it, and 9000 may be taken.
    launch_daemon "$HOME_DIR/registry.pid" "$HOME_DIR/registry.log" \
        "$java" -Xms128m -Xmx512m \
        -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
        -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=0 \
        -Dapicurio.rules.global.compatibility=BACKWARD \
        -jar "$APP_DIR/quarkus-run.jar"
}

wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until answering; do
        if ! registry_pid >/dev/null; then
            tail -n 20 "$HOME_DIR/registry.log" >&2 || true
            die "the registry exited during start-up (log: $HOME_DIR/registry.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$HOME_DIR/registry.log" >&2 || true
            cmd_down
            die "the registry did not answer on $API_URL within ${START_TIMEOUT}s"
        fi
        sleep 1
    done
}

cmd_up() {
    command -v curl >/dev/null 2>&1 || die "curl not found (used to check the API)"
    if answering; then
        log "a registry already answers on $API_URL; using it"
        return 0
    fi
    local java
    java="$(find_java)"
    resolve_app
    rm -f "$HOME_DIR/registry.pid"
    start_registry "$java"
    wait_ready
    log "up on $API_URL"
}

cmd_down() {
    local pid
    if pid="$(registry_pid)"; then
        terminate "$pid" registry "$STOP_TIMEOUT"
    fi
    rm -f "$HOME_DIR/registry.pid"
    log "stopped"
}

cmd_status() {
    if answering; then
        echo "up on $API_URL"
        return 0
    fi
    echo "down on $API_URL"
    return 3
}

# One `up` or `down` at a time per registry home.
usage() { usage_from_header 19; }

main() {
    (($# == 1)) || usage
    mkdir -p "$HOME_DIR"
    HOME_DIR="$(cd "$HOME_DIR" && pwd)"
    case "$1" in
        up) with_lock "$HOME_DIR/.lock" cmd_up ;;
        down) with_lock "$HOME_DIR/.lock" cmd_down ;;
        status) cmd_status ;;
        *) usage ;;
    esac
}

main "$@"

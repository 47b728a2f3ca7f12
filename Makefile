# Tandem: `make run` serves the demo catalog, `make test` runs every test.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DATA ?= ./data
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: install docs run test test-all test-levels test-chaos test-chaos-cluster lint bench bench-embedded bench-services bench-rebuild bench-writes bench-cluster bench-memory clean

install: $(VENV)/.installed

# Two distributions: the toolkit (toolkit/pyproject.toml, src/tandem) and the catalog
# app (pyproject.toml, src/catalog), which depends on it; both editable.
$(VENV)/.installed: pyproject.toml toolkit/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./toolkit -e '.[dev,services]'
	touch $@

run: install
	TANDEM_DATA_DIR=$(DATA) $(BIN)/tandem seed --products 5000 --seed 1 --if-empty
	TANDEM_DATA_DIR=$(DATA) $(BIN)/tandem serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench examples toolkit
	$(BIN)/ruff format --check src tests bench examples toolkit
	$(BIN)/mypy src
	$(BIN)/mypy examples

test: lint docs
	$(BIN)/pytest

# The documentation site (mkdocs.yml, docs/) into site/, warnings as errors; the docs
# extra is installed on first use.
$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e ./toolkit -e '.[dev,services,docs]'
	touch $@

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test-all: test

# The whole end-to-end suite at every separation level (`make test` runs its core
# modules at levels 1 and 2, and all of it at level 3).
test-levels: install
	TANDEM_E2E_LEVELS=all $(BIN)/pytest tests/e2e

# Faults under a mixed workload, checked (docs/reliability.md): own Redis and NATS on
# spare ports, fresh PostgreSQL databases; writes the table to docs/reliability.md and
# tests/chaos/results/chaos.json.
CHAOS_ROUNDS ?= 4
CHAOS_SEED ?= 1
test-chaos: install
	$(BIN)/python -m tests.chaos.runner --rounds $(CHAOS_ROUNDS) --seed $(CHAOS_SEED)

# Chaos on clusters of its own: the bounded tests (a Redis Cluster master killed, the
# NATS stream's leader killed and restarted), then the runner on a Redis Cluster (three
# masters, three replicas): masters killed, replicas promoted; its own section of
# docs/reliability.md and tests/chaos/results/chaos-cluster.json.
test-chaos-cluster: install
	TANDEM_CLUSTER_CHAOS=1 $(BIN)/pytest -m cluster_chaos tests/chaos
	$(BIN)/python -m tests.chaos.runner --redis-cluster --rounds $(CHAOS_ROUNDS) --seed $(CHAOS_SEED)

# The benchmark suite (bench/suite.py): seeds 100,000 products, runs every scenario of
# quality.md at each separation level with same-run ceilings and the eventsourcing
# peer; results in bench/results/suite-<profile>.{json,md,png}. BENCH_ARGS=… to change
# sizes (e.g. BENCH_ARGS="--products 5000 --duration 2 --runs 1").
BENCH_ARGS ?=
$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e ./toolkit -e '.[dev,services,bench]'
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	touch $@

# Needs the machine's PostgreSQL and Redis (fresh databases and key prefix per run).
bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench.suite --profile services $(BENCH_ARGS)

bench-services: bench

bench-embedded: $(VENV)/.bench-installed
	$(BIN)/python -m bench.suite --profile embedded $(BENCH_ARGS)

# The write path against the raw route running the same SQL, alternating in one run
# (bench/writes.py); PROFILE=embedded for the embedded profile.
PROFILE ?= services
bench-writes: $(VENV)/.bench-installed
	$(BIN)/python -m bench.writes --profile $(PROFILE) $(BENCH_ARGS)

# Product detail reads and writes on a Redis Cluster of its own beside the machine's
# Redis, same run, 20,000 products (bench/cluster.py); bench/results/cluster.{json,md}.
bench-cluster: $(VENV)/.bench-installed
	$(BIN)/python -m bench.cluster $(BENCH_ARGS)

# The embedded API's memory over 10 minutes of writes (bench/memory.py); BENCH_ARGS=
# "--profile services" for the services API.
bench-memory: $(VENV)/.bench-installed
	$(BIN)/python -m bench.memory $(BENCH_ARGS)

# Catch-up of the services read models from 1,000,000 events (EVENTS=… to change);
# needs the machine's PostgreSQL and Redis (a fresh database and key prefix per run).
EVENTS ?= 1000000
bench-rebuild: install
	$(BIN)/python -m bench.rebuild --events $(EVENTS)

clean:
	rm -rf $(VENV) $(DATA) site .mypy_cache .ruff_cache .pytest_cache

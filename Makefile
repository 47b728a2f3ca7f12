# Tandem: `make run` serves the demo catalog, `make test` runs every test.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DATA ?= ./data
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: install run test test-all lint bench-embedded bench-services bench-rebuild clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,services]'
	touch $@

run: install
	TANDEM_DATA_DIR=$(DATA) $(BIN)/tandem seed --products 5000 --seed 1 --if-empty
	TANDEM_DATA_DIR=$(DATA) $(BIN)/tandem serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest

test-all: test

bench-embedded: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.embedded

# Needs the machine's PostgreSQL and Redis (fresh databases and key prefix per run).
bench-services: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.services

# Catch-up of the services read models from 1,000,000 events (EVENTS=… to change);
# needs the machine's PostgreSQL and Redis (a fresh database and key prefix per run).
EVENTS ?= 1000000
bench-rebuild: install
	$(BIN)/python -m bench.rebuild --events $(EVENTS)

clean:
	rm -rf $(VENV) $(DATA) .mypy_cache .ruff_cache .pytest_cache

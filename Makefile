# Conversion Intelligence — the commands a user runs. `make demo` and `make test` are all you need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.convintel/dagster
# CI and small machines: two pytest workers, each with its own throwaway PostgreSQL cluster.
PYTEST_WORKERS ?= 2
UI_PORT ?= 3000
API_PORT ?= 8000

.PHONY: help venv postgres chromium db db-down migrate synth build docs manifest ui serve demo test clean

help:
	@echo "make demo   - venv, local database, migrations, a small synthetic world, dbt build, summary"
	@echo "make test   - the full test suite against real, throwaway PostgreSQL databases"
	@echo "make ui     - the Dagster UI on http://127.0.0.1:$(UI_PORT)"
	@echo "make serve  - the Pattern API on http://127.0.0.1:$(API_PORT) (docs at /docs; keys: convintel keys create)"
	@echo "make docs   - dbt docs (lineage) into dbt_project/target"
	@echo "make health - pattern health: SPEC §8 rules + Great Expectations data docs (.convintel/gx_docs)"
	@echo "make db | db-down | migrate | synth | build | clean"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

postgres:
	@scripts/ensure-postgres.sh

# Headless Chromium for the pattern report's browser test: installed as root, else that test says why it skips.
chromium:
	@scripts/ensure-chromium.sh

db: venv postgres
	@$(BIN)/convintel db up

db-down: venv
	@$(BIN)/convintel db down

migrate: db
	$(BIN)/convintel migrate

synth: migrate
	$(BIN)/convintel synth

build: migrate
	$(BIN)/convintel dbt seed
	$(BIN)/convintel dbt build

docs: migrate
	$(BIN)/convintel dbt docs generate
	@echo "dbt docs: run '$(BIN)/convintel dbt docs serve --host 127.0.0.1' or open dbt_project/target/index.html"

# @dbt_assets reads the manifest at import time: dagster needs it before it can load definitions.
manifest: venv
	$(BIN)/convintel manifest

ui: db manifest
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster dev -m dagster_pipelines.definitions -h 127.0.0.1 -p $(UI_PORT)

.PHONY: health
health: migrate manifest
	$(BIN)/convintel health

# The Pattern API; learning runs it starts need the dbt manifest, like the UI.
serve: migrate manifest
	$(BIN)/convintel serve --host 127.0.0.1 --port $(API_PORT)

demo: venv postgres
	$(BIN)/convintel demo

test: venv postgres chromium
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q

clean:
	-@test -x $(BIN)/convintel && $(BIN)/convintel db down
	rm -rf .convintel dbt_project/target dbt_project/logs

# Issue 11 benchmark: stages of the learning path at growing sizes beside the grouped-scan floor and the
# naive row-by-row implementation, detector memory, the API under load (wrk; py-spy profiles a missed target).
# BENCH_SIZES = leads:clients pairs (default 10k over 10 and 100k over 100 clients); BENCH_ARGS: more
# options of bench.run (e.g. --naive-limit 600, --api-seconds 0). See README "Reading the benchmark".
BENCH_SIZES ?= 10000:10,100000:100
BENCH_ARGS ?=
.PHONY: bench
bench: db migrate manifest
	@scripts/ensure-wrk.sh
	@test -x $(BIN)/py-spy || $(BIN)/python -m pip install -q py-spy || echo "py-spy not installed: no API profile" >&2
	$(BIN)/python -m bench.run --sizes $(BENCH_SIZES) $(BENCH_ARGS)

# Taskgate: `make help` lists the targets. Every target that needs Python installs the
# virtualenv first, so `make run` and `make test` work from a fresh clone.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BOOTSTRAP_PYTHON = $(shell command -v python3.11 || command -v python3)

HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
QUEUES ?=
PYTEST_ARGS ?=
V ?=
# Benchmarks: tasks per run, requests in flight, rounds (empty: the benchmark's defaults).
N ?=
C ?=
ROUNDS ?=
SIZES ?=
BENCH_STAMP := $(VENV)/.installed-bench
# The browser assets the documentation pages and the dashboard load (scripts/vendor-assets.sh).
ASSETS_STAMP := app/static/vendor/versions.json

.PHONY: help venv assets browser pgbouncer services test-cluster db migrate api worker run test lint format docs bench bench-growth bench-drain bench-costs bench-soak up down

help: ## List the targets
	@echo "usage: make <target>"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-zA-Z_-]*:.*## / { printf "  %-10s %s\n", $$1, $$2 }' \
		$(firstword $(MAKEFILE_LIST))

venv: $(STAMP)
	@:

# Re-installed only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(BOOTSTRAP_PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]" \
		>$(VENV)/install.log 2>&1 || { cat $(VENV)/install.log >&2; exit 1; }
	@touch $@

assets: $(ASSETS_STAMP) ## Vendor the pages' scripts and styles from the npm registry (package-lock.json)
	@:

$(ASSETS_STAMP): package.json package-lock.json scripts/vendor-assets.sh
	@scripts/ensure-packages.sh npm:npm
	@scripts/vendor-assets.sh

browser: ## Install Debian's Chromium for the browser tests where possible (else they skip)
	@scripts/ensure-packages.sh --optional chromium:chromium

pgbouncer: ## Install Debian's PgBouncer for the PgBouncer tests where possible (else they skip)
	@scripts/ensure-packages.sh --optional pgbouncer:pgbouncer

services: ## Make sure PostgreSQL and RabbitMQ answer (start them where possible)
	@scripts/ensure-services.sh

db: venv services ## Create the database DB_NAME if it does not exist
	@$(BIN)/python -m db.create_database

migrate: db ## Apply the Alembic migrations (alembic upgrade head)
	@$(BIN)/alembic upgrade head

api: migrate assets ## Run the HTTP API on HOST:PORT (127.0.0.1:8000)
	@$(BIN)/uvicorn app.main:app --host $(HOST) --port $(PORT)

worker: venv ## Run WORKERS worker processes (1) for QUEUES (all) in the foreground
	@$(if $(QUEUES),TASKGATE_WORKER_QUEUES=$(QUEUES)) \
		$(BIN)/faststream run --factory subscribers.worker:create_app --workers $(WORKERS)

run: venv assets services migrate ## Run the API and one worker; Ctrl-C stops both
	@HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) scripts/run.sh

test: venv assets browser pgbouncer services ## Run the whole test suite against the taskgate_test database
	@PYTEST_ARGS="$(PYTEST_ARGS)" scripts/run-tests.sh

test-cluster: venv services ## Only the three-node RabbitMQ cluster test (part of `make test`; needs root)
	@DB_NAME=taskgate_test $(BIN)/pytest -m cluster $(PYTEST_ARGS)

lint: venv ## ruff check, ruff format --check, mypy and the floor plan (import-linter)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy
	@$(BIN)/lint-imports

format: venv ## Format the code and apply ruff's safe fixes
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

docs: venv ## Write docs/asyncapi.json (workers) and docs/openapi.json (API)
	@mkdir -p docs
	@$(BIN)/faststream docs gen --factory subscribers.worker:create_app --out docs/asyncapi.json
	@$(BIN)/python -c 'import json, pathlib; from app.main import app; \
		pathlib.Path("docs/openapi.json").write_text(json.dumps(app.openapi(), indent=2) + "\n")'

# The bench extra (aiohttp, matplotlib) on top of the dev one; `make test` does not need it.
$(BENCH_STAMP): $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,bench]" \
		>$(VENV)/install-bench.log 2>&1 || { cat $(VENV)/install-bench.log >&2; exit 1; }
	@touch $@

bench: $(BENCH_STAMP) services ## Taskgate against a hand-written baseline (N=5000 C=64 ROUNDS=3)
	@$(BIN)/python -m benchmarks $(if $(N),--tasks $(N)) $(if $(C),--concurrency $(C)) \
		$(if $(ROUNDS),--rounds $(ROUNDS))

bench-growth: $(BENCH_STAMP) services ## Single submits on a table of 0, 1M and 10M finished tasks (SIZES=)
	@$(BIN)/python -m benchmarks.growth $(if $(SIZES),--sizes $(SIZES)) $(if $(N),--tasks $(N)) \
		$(if $(C),--concurrency $(C)) $(if $(ROUNDS),--rounds $(ROUNDS))

bench-drain: $(BENCH_STAMP) services ## WORKERS worker processes (1) drain a backlog of N tasks (200,000) submitted ahead
	@$(BIN)/python -m benchmarks.drain $(if $(N),--tasks $(N)) --worker-processes $(WORKERS)

bench-costs: $(BENCH_STAMP) services ## Cost per task against concurrency (1-256) and payload size (100 B-100 KiB)
	@$(BIN)/python -m benchmarks.costs $(if $(N),--tasks $(N))

bench-soak: $(BENCH_STAMP) services ## 200,000 tasks through Taskgate: memory, list latency (N=)
	@$(BIN)/python -m benchmarks.soak $(if $(N),--tasks $(N)) $(if $(C),--concurrency $(C))

up: ## Build and start everything with docker compose
	@docker compose up -d --build

down: ## Stop the compose stack (V=1 also removes its volumes)
	@docker compose down $(if $(V),-v)

# kinestream: developer and CI entry points. `make test` is what CI runs (.ci/run).
PYTHON ?= $(or $(shell command -v python3.11 2>/dev/null),python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test bench newcomer lint typecheck services-up services-down clean

# The virtual environment, (re)installed only when pyproject.toml or the lock changed.
venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

# The main job on a recorded pose stream shipped in the repository.
run: venv
	$(BIN)/kinestream analyze examples/cmj_demo.arrow --sport cmj --athlete-height 1.80

# Lints, type checks and every test, against a real Kafka broker and PostgreSQL server that
# infra/test.sh starts and always stops. Pass pytest arguments as PYTEST_ARGS="-k kafka".
test: venv
	VENV=$(VENV) infra/test.sh $(PYTEST_ARGS)

# Every benchmark (figures, not tests) against throwaway servers, stopped afterwards.
bench: venv
	VENV=$(VENV) infra/bench.sh $(BENCH_ARGS)

# What a new user runs: the committed HEAD cloned into a temporary folder with a fresh HOME,
# then `make run` and `make test` there, and a summary with their times (infra/newcomer.sh).
newcomer:
	infra/newcomer.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

# Servers for working by hand; then: . .artifacts/services/env
services-up: venv
	@mkdir -p .artifacts/services
	@kafka=$$(KINESTREAM_PYTHON=$(BIN)/python infra/kafka/kafka.sh start) && \
	 db=$$(infra/postgres/postgres.sh start) && \
	 timescale=$$(infra/pglite/pglite.sh start) && \
	 printf 'export KINESTREAM_KAFKA=%s\nexport KINESTREAM_DATABASE_URL=%s\nexport KINESTREAM_TIMESCALE_URL=%s\n' \
	   "$$kafka" "$$db" "$$timescale" > .artifacts/services/env && cat .artifacts/services/env

services-down:
	infra/kafka/kafka.sh stop
	infra/postgres/postgres.sh stop
	infra/pglite/pglite.sh stop
	rm -f .artifacts/services/env

clean: services-down
	rm -rf .mypy_cache .ruff_cache .pytest_cache

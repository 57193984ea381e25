#!/usr/bin/env bash
# `make bench`: start Kafka and PostgreSQL, run the benchmarks (`python -m bench ARGS`), and
# always stop the servers. Extra arguments name benchmarks (e.g. `flow frames`).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${VENV:-.venv}"
export PATH="$PWD/$venv/bin:$PATH"
. infra/services.sh
start_services bench.sh
python -m bench "$@"

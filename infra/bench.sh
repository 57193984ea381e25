#!/usr/bin/env bash
# `make bench`: start Kafka and PostgreSQL, run the benchmarks (`python -m bench ARGS`), and
# always stop the servers. Extra arguments name benchmarks (e.g. `flow frames`).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${VENV:-.venv}"
export PATH="$PWD/$venv/bin:$PATH"
export KINESTREAM_PYTHON="$PWD/$venv/bin/python"
KINESTREAM_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/kinestream-bench-run.XXXXXX")"
export KINESTREAM_RUN_DIR

stop_services() {
    infra/kafka/kafka.sh stop || true
    infra/postgres/postgres.sh stop || true
    rm -rf "$KINESTREAM_RUN_DIR"
}
trap stop_services EXIT
trap "exit 130" INT TERM

KINESTREAM_KAFKA="$(infra/kafka/kafka.sh start)" || { echo "bench.sh: Kafka did not start" >&2; exit 1; }
KINESTREAM_DATABASE_URL="$(infra/postgres/postgres.sh start)" ||
    { echo "bench.sh: PostgreSQL did not start" >&2; exit 1; }
export KINESTREAM_KAFKA KINESTREAM_DATABASE_URL
python -m bench "$@"

#!/usr/bin/env bash
# `make test`: start Kafka and PostgreSQL, find Chromium (installed where missing) for the
# browser tests, run the lints, the type checker and pytest against them, and always stop the
# servers. Runs every step, then exits with pytest's status, or else with the first failing
# lint's. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${VENV:-.venv}"
export PATH="$PWD/$venv/bin:$PATH"
export KINESTREAM_PYTHON="$PWD/$venv/bin/python"
export KINESTREAM_REQUIRE_SERVICES=1
# This run's own record of its servers, so concurrent runs in one checkout don't mix them up.
KINESTREAM_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/kinestream-test-run.XXXXXX")"
export KINESTREAM_RUN_DIR

stop_services() {
    infra/kafka/kafka.sh stop || true
    infra/postgres/postgres.sh stop || true
    rm -rf "$KINESTREAM_RUN_DIR"
}
trap stop_services EXIT
trap "exit 130" INT TERM

KINESTREAM_KAFKA="$(infra/kafka/kafka.sh start)" || { echo "test.sh: Kafka did not start" >&2; exit 1; }
KINESTREAM_DATABASE_URL="$(infra/postgres/postgres.sh start)" ||
    { echo "test.sh: PostgreSQL did not start" >&2; exit 1; }
KINESTREAM_CHROMIUM="$(infra/chromium.sh)" || { echo "test.sh: no Chromium" >&2; exit 1; }
export KINESTREAM_KAFKA KINESTREAM_DATABASE_URL KINESTREAM_CHROMIUM
echo "test.sh: KINESTREAM_KAFKA=$KINESTREAM_KAFKA KINESTREAM_DATABASE_URL=$KINESTREAM_DATABASE_URL"
echo "test.sh: KINESTREAM_CHROMIUM=$KINESTREAM_CHROMIUM"

failed=()
status=0
step() {
    local name="$1" rc=0
    shift
    echo "==> $name: $*"
    "$@" || rc=$?
    if ((rc != 0)); then
        failed+=("$name")
        ((status != 0)) || status=$rc
    fi
    return $rc
}
step "ruff check" ruff check .
step "ruff format" ruff format --check .
step "mypy" mypy
step "pytest" pytest "$@" || status=$?

if ((status != 0)); then
    echo "test.sh: FAILED: ${failed[*]}" >&2
    exit "$status"
fi
echo "test.sh: all steps passed"

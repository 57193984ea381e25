#!/usr/bin/env bash
# `make test`: start Kafka and PostgreSQL, find Chromium (installed where missing) for the
# browser tests, run the lints, the type checker and pytest against them, and always stop the
# servers. Runs every step, then exits with pytest's status, or else with the first failing
# lint's. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${VENV:-.venv}"
export PATH="$PWD/$venv/bin:$PATH"
export KINESTREAM_REQUIRE_SERVICES=1
. infra/services.sh
start_services test.sh
KINESTREAM_CHROMIUM="$(infra/chromium.sh)" || { echo "test.sh: no Chromium" >&2; exit 1; }
export KINESTREAM_CHROMIUM
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

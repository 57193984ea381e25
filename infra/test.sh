#!/usr/bin/env bash
# `make test`: start Kafka, PostgreSQL and the TimescaleDB stand-in (infra/pglite) in the
# background, find Chromium (installed where missing) for the browser tests and run the lints
# and the type checker meanwhile, then pytest against the servers, in parallel
# (pytest-xdist; KINESTREAM_TEST_WORKERS workers, default one more than the CPUs, up to 8),
# and always stop the servers. Runs every step, then exits with pytest's status, or else with
# the first failing lint's. Extra arguments go to pytest (`-n 0`: one process).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${VENV:-.venv}"
export PATH="$PWD/$venv/bin:$PATH"
export KINESTREAM_REQUIRE_SERVICES=1
began=$SECONDS
. infra/services.sh
launch_services test.sh timescale
KINESTREAM_CHROMIUM="$(infra/chromium.sh)" || { echo "test.sh: no Chromium" >&2; exit 1; }
export KINESTREAM_CHROMIUM
echo "test.sh: KINESTREAM_CHROMIUM=$KINESTREAM_CHROMIUM"

failed=()
status=0
step() {
    local name="$1" rc=0 step_began=$SECONDS
    shift
    echo "==> $name: $*"
    "$@" || rc=$?
    echo "==> $name: exit $rc after $((SECONDS - step_began)) s"
    if ((rc != 0)); then
        failed+=("$name")
        ((status != 0)) || status=$rc
    fi
    return $rc
}
step "ruff check" ruff check .
step "ruff format" ruff format --check .
step "mypy" mypy
await_services test.sh
cpus="$(nproc)"
workers="${KINESTREAM_TEST_WORKERS:-$((cpus < 8 ? cpus + 1 : 8))}"
step "pytest" pytest -n "$workers" --dist worksteal --durations=15 "$@" || status=$?

echo "test.sh: $((SECONDS - began)) s in all"
if ((status != 0)); then
    echo "test.sh: FAILED: ${failed[*]}" >&2
    exit "$status"
fi
echo "test.sh: all steps passed"

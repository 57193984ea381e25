# Sourced by infra/test.sh and infra/bench.sh: this run's own throwaway Kafka broker and
# PostgreSQL server, stopped when the shell exits. Expects the repository root as the
# working directory and the virtual environment's bin first on PATH.
#
#   . infra/services.sh && start_services NAME   # exports KINESTREAM_KAFKA, _DATABASE_URL

# This run's own record of its servers, so concurrent runs in one checkout don't mix them up.
KINESTREAM_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/kinestream-run.XXXXXX")"
export KINESTREAM_RUN_DIR
KINESTREAM_PYTHON="$(command -v python)"
export KINESTREAM_PYTHON

stop_services() {
    infra/kafka/kafka.sh stop || true
    infra/postgres/postgres.sh stop || true
    rm -rf "$KINESTREAM_RUN_DIR"
}

start_services() {
    local name="$1"
    trap stop_services EXIT
    trap "exit 130" INT TERM
    KINESTREAM_KAFKA="$(infra/kafka/kafka.sh start)" ||
        { echo "$name: Kafka did not start" >&2; exit 1; }
    KINESTREAM_DATABASE_URL="$(infra/postgres/postgres.sh start)" ||
        { echo "$name: PostgreSQL did not start" >&2; exit 1; }
    export KINESTREAM_KAFKA KINESTREAM_DATABASE_URL
    echo "$name: KINESTREAM_KAFKA=$KINESTREAM_KAFKA KINESTREAM_DATABASE_URL=$KINESTREAM_DATABASE_URL"
}

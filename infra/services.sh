# Sourced by infra/test.sh and infra/bench.sh: this run's own throwaway Kafka broker and
# PostgreSQL server (and, for the tests, the TimescaleDB stand-in of infra/pglite), stopped
# when the shell exits. Expects the repository root as the working directory and the virtual
# environment's bin first on PATH.
#
#   . infra/services.sh && start_services NAME   # exports KINESTREAM_KAFKA, _DATABASE_URL
#
# or, to work meanwhile (the servers start in the background, Kafka's JVM the slowest):
#
#   launch_services NAME [timescale]; ...; await_services NAME   # timescale: also
#                                                                 # KINESTREAM_TIMESCALE_URL

# This run's own record of its servers, so concurrent runs in one checkout don't mix them up.
KINESTREAM_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/kinestream-run.XXXXXX")"
export KINESTREAM_RUN_DIR
KINESTREAM_PYTHON="$(command -v python)"
export KINESTREAM_PYTHON
_service_jobs=()
_service_names=()

stop_services() {
    # A start still under way would record its server after the stop: let it finish.
    ((${#_service_jobs[@]} == 0)) || wait "${_service_jobs[@]}" 2>/dev/null || true
    infra/kafka/kafka.sh stop || true
    infra/postgres/postgres.sh stop || true
    infra/pglite/pglite.sh stop || true
    rm -rf "$KINESTREAM_RUN_DIR"
}

# Starts one server in the background; its address goes to $KINESTREAM_RUN_DIR/NAME.address.
_launch() {
    local name="$1"
    shift
    "$@" >"$KINESTREAM_RUN_DIR/$name.address" &
    _service_jobs+=($!)
    _service_names+=("$name")
}

launch_services() {
    trap stop_services EXIT
    trap "exit 130" INT TERM
    _launch Kafka infra/kafka/kafka.sh start
    _launch PostgreSQL infra/postgres/postgres.sh start
    if [[ "${2:-}" == timescale ]]; then
        _launch pglite infra/pglite/pglite.sh start
    fi
}

await_services() {
    local name="$1" i
    for i in "${!_service_jobs[@]}"; do
        wait "${_service_jobs[$i]}" ||
            { echo "$name: ${_service_names[$i]} did not start" >&2; exit 1; }
    done
    _service_jobs=()
    KINESTREAM_KAFKA="$(cat "$KINESTREAM_RUN_DIR/Kafka.address")"
    KINESTREAM_DATABASE_URL="$(cat "$KINESTREAM_RUN_DIR/PostgreSQL.address")"
    export KINESTREAM_KAFKA KINESTREAM_DATABASE_URL
    echo "$name: KINESTREAM_KAFKA=$KINESTREAM_KAFKA KINESTREAM_DATABASE_URL=$KINESTREAM_DATABASE_URL"
    if [[ -f "$KINESTREAM_RUN_DIR/pglite.address" ]]; then
        KINESTREAM_TIMESCALE_URL="$(cat "$KINESTREAM_RUN_DIR/pglite.address")"
        export KINESTREAM_TIMESCALE_URL
        echo "$name: KINESTREAM_TIMESCALE_URL=$KINESTREAM_TIMESCALE_URL"
    fi
}

start_services() {
    launch_services "$1"
    await_services "$1"
}

#!/usr/bin/env bash
# A real, throwaway PostgreSQL server for the tests.
#
#   infra/postgres/postgres.sh start   # prints the URL of the `kinestream` database
#   infra/postgres/postgres.sh stop
#
# Uses the PostgreSQL found on PATH or under /usr/lib/postgresql/*/bin, installing Debian's
# `postgresql` package when there is none. Each start runs initdb in a fresh directory
# ${TMPDIR:-/tmp}/kinestream-postgres.XXXXXX (removed by stop), listens on 127.0.0.1 only
# with trust authentication, and keeps its unix socket inside that directory. PostgreSQL
# refuses to run as root, so as root the server runs as the `postgres` user.
# Where the TimescaleDB extension is installed it is preloaded, so migrations take the
# TimescaleDB path; otherwise they take the plain PostgreSQL one.
# Environment: KINESTREAM_POSTGRES_PORT (default: a free port), KINESTREAM_RUN_DIR (where the
# data dir and URL are recorded; default .artifacts/services in the repository).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$repo/infra/lib.sh"
run_dir="${KINESTREAM_RUN_DIR:-$repo/.artifacts/services}"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
    local initdb_path
    if initdb_path="$(command -v initdb)"; then
        dirname "$(readlink -f "$initdb_path")"
        return 0
    fi
    # The newest installed major version.
    find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
        sort -V | tail -n 1 | xargs -r dirname
}

ensure_bindir() {
    local bindir
    bindir="$(find_bindir)"
    if [[ -z "$bindir" ]]; then
        log "installing PostgreSQL from Debian"
        "$repo/infra/debian-install.sh" postgresql
        bindir="$(find_bindir)"
    fi
    [[ -n "$bindir" ]] || { log "no initdb found after installing postgresql"; return 1; }
    echo "$bindir"
}

# Runs a command as the server's owner: `postgres` when we are root (from /, since it may not
# enter the caller's directory), ourselves otherwise.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

start() {
    if [[ -f "$run_dir/postgres.url" ]]; then
        log "already running"
        cat "$run_dir/postgres.url"
        return 0
    fi
    local bindir port dir options url
    bindir="$(ensure_bindir)"
    port="${KINESTREAM_POSTGRES_PORT:-$(free_port)}"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/kinestream-postgres.XXXXXX")"
    mkdir -p "$run_dir"
    echo "$dir" >"$run_dir/postgres.dir"
    echo "$bindir" >"$run_dir/postgres.bindir"
    if [[ "$(id -u)" == 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres: "$dir"
    fi

    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1 ||
        { log "initdb failed:"; cat "$dir/initdb.log" >&2; return 1; }
    # Loopback only, no password: a throwaway server for tests.
    cat >"$dir/data/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
    options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir"
    options+=" -c max_connections=200 -c fsync=off -c synchronous_commit=off"
    options+=" -c full_page_writes=off"
    if [[ -x "$bindir/pg_config" && -f "$("$bindir/pg_config" --sharedir)/extension/timescaledb.control" ]]; then
        options+=" -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off"
    fi
    as_owner "$bindir/pg_ctl" start -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "$options" >/dev/null ||
        { log "server did not start:"; tail -n 30 "$dir/server.log" >&2; return 1; }
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres kinestream

    url="postgresql://postgres@127.0.0.1:$port/kinestream"
    echo "$url" >"$run_dir/postgres.url"
    log "server up at $url (data in $dir)"
    echo "$url"
}

stop() {
    local dir bindir
    if [[ -f "$run_dir/postgres.dir" ]]; then
        dir="$(cat "$run_dir/postgres.dir")"
        bindir="$(cat "$run_dir/postgres.bindir" 2>/dev/null || find_bindir)"
        if [[ -f "$dir/data/postmaster.pid" ]]; then
            as_owner "$bindir/pg_ctl" stop -D "$dir/data" -m fast -w >/dev/null ||
                log "pg_ctl stop failed"
        fi
        [[ "$dir" == */kinestream-postgres.* ]] && rm -rf "$dir"
    fi
    rm -f "$run_dir/postgres.dir" "$run_dir/postgres.bindir" "$run_dir/postgres.url"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac

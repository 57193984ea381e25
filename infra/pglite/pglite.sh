#!/usr/bin/env bash
# A throwaway stand-in for TimescaleDB for the tests: PGlite (PostgreSQL 17 compiled to
# WebAssembly) with the TimescaleDB 2.23 extension, an unofficial npm build, served over the
# PostgreSQL protocol by @electric-sql/pglite-socket. Production uses the real TimescaleDB
# image (docker-compose.yml); this only lets the tests run the *.timescale.sql migrations and
# the coach's queries with the extension present.
#
#   infra/pglite/pglite.sh start   # prints the URL of its one database
#   infra/pglite/pglite.sh stop
#
# The packages pinned by infra/pglite/package-lock.json are installed once with `npm ci`
# into a cache outside the repository, ${XDG_CACHE_HOME:-$HOME/.cache}/kinestream/
# pglite-<lock hash>; Node.js and npm come from Debian where they are missing. Each start
# serves a fresh in-memory database (nothing on disk) from a directory
# ${TMPDIR:-/tmp}/kinestream-pglite.XXXXXX, removed by stop. It has one backend session,
# which connections share in turn: session settings (SET ...) carry over between them.
# Environment: KINESTREAM_PGLITE_PORT (default: a free port), KINESTREAM_RUN_DIR (where the
# pid, directory and URL are recorded; default .artifacts/services in the repository).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$repo/infra/lib.sh"
run_dir="${KINESTREAM_RUN_DIR:-$repo/.artifacts/services}"

log() { echo "pglite.sh: $*" >&2; }

ensure_tools() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        log "installing Node.js and npm from Debian"
        "$repo/infra/debian-install.sh" nodejs npm
    fi
}

# Prints the directory of the installed node_modules, running `npm ci` on first use.
ensure_modules() {
    local lock_hash cache
    lock_hash="$(cat "$here/package.json" "$here/package-lock.json" "$here/.npmrc" |
        sha256sum | cut -c1-8)"
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/kinestream/pglite-$lock_hash"
    if [[ ! -f "$cache/node_modules/.complete" ]]; then
        log "installing the npm packages into $cache"
        rm -rf "$cache/partial"
        mkdir -p "$cache/partial"
        cp "$here/package.json" "$here/package-lock.json" "$here/.npmrc" "$cache/partial/"
        (cd "$cache/partial" && npm ci --no-audit --no-fund --loglevel=error) \
            >"$cache/npm.log" 2>&1 ||
            { log "npm ci failed:"; cat "$cache/npm.log" >&2; return 1; }
        touch "$cache/partial/node_modules/.complete"
        rm -rf "$cache/node_modules"
        mv "$cache/partial/node_modules" "$cache/node_modules"
        rm -rf "$cache/partial"
    fi
    echo "$cache/node_modules"
}

start() {
    if [[ -f "$run_dir/pglite.url" ]]; then
        log "already running"
        cat "$run_dir/pglite.url"
        return 0
    fi
    ensure_tools
    local modules port dir pid url
    modules="$(ensure_modules)"
    port="${KINESTREAM_PGLITE_PORT:-$(free_port)}"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/kinestream-pglite.XXXXXX")"
    mkdir -p "$run_dir"
    echo "$dir" >"$run_dir/pglite.dir"
    # Node resolves the server's imports from its own directory.
    cp "$here/server.mjs" "$dir/server.mjs"
    ln -s "$modules" "$dir/node_modules"
    nohup node "$dir/server.mjs" "$port" >"$dir/server.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$run_dir/pglite.pid"
    for _ in $(seq 1 120); do
        grep -q "^listening on" "$dir/server.log" && break
        if ! kill -0 "$pid" 2>/dev/null; then
            log "server exited during startup:"
            tail -n 30 "$dir/server.log" >&2
            stop
            return 1
        fi
        sleep 0.5
    done
    if ! grep -q "^listening on" "$dir/server.log"; then
        log "server did not listen on $port within 60 s:"
        tail -n 30 "$dir/server.log" >&2
        stop
        return 1
    fi
    # pglite-socket asks for a password (any will do) and answers no to SSL.
    url="postgresql://postgres:postgres@127.0.0.1:$port/postgres?sslmode=disable"
    echo "$url" >"$run_dir/pglite.url"
    log "server up at $url (pid $pid, log in $dir)"
    echo "$url"
}

stop() {
    local dir
    stop_pid "$run_dir/pglite.pid" 5
    if [[ -f "$run_dir/pglite.dir" ]]; then
        dir="$(cat "$run_dir/pglite.dir")"
        [[ "$dir" == */kinestream-pglite.* ]] && rm -rf "$dir"
    fi
    rm -f "$run_dir/pglite.pid" "$run_dir/pglite.dir" "$run_dir/pglite.url"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac

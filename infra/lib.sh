# Sourced by the throwaway servers' scripts (infra/kafka/kafka.sh, infra/postgres/postgres.sh,
# infra/pglite/pglite.sh): what they share. Each defines log() before using these.

# Prints a free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stop_pid PIDFILE SECONDS: SIGTERM the process PIDFILE names, wait up to SECONDS for it to
# exit, then SIGKILL it (saying so). Nothing to do without the file or the process.
stop_pid() {
    local pidfile="$1" seconds="$2" pid
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid"
    for _ in $(seq 1 $((seconds * 4))); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    log "pid $pid did not stop in $seconds s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

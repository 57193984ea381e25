#!/usr/bin/env bash
# A real, throwaway, single-node Kafka broker (KRaft: broker and controller in one JVM) for
# the tests.
#
#   infra/kafka/kafka.sh start   # prints the bootstrap address
#   infra/kafka/kafka.sh stop
#
# The jars named by infra/kafka/pom.xml are copied once into a cache outside the repository,
# ${XDG_CACHE_HOME:-$HOME/.cache}/kinestream/kafka-<version>-<pom hash>/libs. Each start formats
# fresh storage in ${TMPDIR:-/tmp}/kinestream-kafka-<port>, removed again by stop.
# Environment: KINESTREAM_KAFKA_PORT (default: a free port), KINESTREAM_RUN_DIR (where the
# pid, data dir and address are recorded; default .artifacts/services in the repository),
# KINESTREAM_PYTHON (a Python with confluent-kafka; default .venv/bin/python),
# KINESTREAM_KAFKA_CLUSTER_ID (the cluster id to format with; default a fresh random one).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$repo/infra/lib.sh"
run_dir="${KINESTREAM_RUN_DIR:-$repo/.artifacts/services}"
python="${KINESTREAM_PYTHON:-$repo/.venv/bin/python}"
[[ -x "$python" ]] || python="python3"

log() { echo "kafka.sh: $*" >&2; }

ensure_tools() {
    if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
        log "installing Java and Maven from Debian"
        "$repo/infra/debian-install.sh" default-jre-headless maven
    fi
}

# Prints the directory of the broker's jars, downloading them on first use.
ensure_libs() {
    local version pom_hash cache
    version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
    pom_hash="$(sha256sum "$here/pom.xml" | cut -c1-8)"
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/kinestream/kafka-$version-$pom_hash"
    if [[ ! -f "$cache/libs/.complete" ]]; then
        log "downloading Kafka $version into $cache"
        rm -rf "$cache/libs.partial"
        mkdir -p "$cache"
        (cd "$here" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$cache/libs.partial") >"$cache/mvn.log" 2>&1 ||
            { log "maven failed:"; cat "$cache/mvn.log" >&2; return 1; }
        touch "$cache/libs.partial/.complete"
        rm -rf "$cache/libs"
        mv "$cache/libs.partial" "$cache/libs"
    fi
    echo "$cache/libs"
}

# A cluster id as Kafka's own `kafka-storage random-uuid` makes it: a random UUID in URL-safe
# base64, drawn again while it starts with `-` (1 in 64 would), which tools read as an option.
random_cluster_id() {
    "$python" -c '
import base64, uuid
cluster_id = "-"
while cluster_id.startswith("-"):
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
print(cluster_id)'
}

write_config() {
    local dir="$1" port="$2" controller_port="$3"
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
EOF
    cat >"$dir/log4j2.properties" <<EOF
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
EOF
}

wait_ready() {
    local bootstrap="$1" pid="$2" dir="$3" deadline=$((SECONDS + 120))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "broker exited during startup; last lines of $dir:"
            tail -n 30 "$dir/server.log" "$dir/stdout.log" >&2 || true
            return 1
        fi
        # The log says when the broker is up; only then ask it (a Python start is not cheap).
        if grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null &&
            "$python" - "$bootstrap" <<'EOF' 2>/dev/null; then
import sys
from confluent_kafka.admin import AdminClient

admin = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0})
metadata = admin.list_topics(timeout=1)
sys.exit(0 if metadata.brokers else 1)
EOF
            return 0
        fi
        sleep 0.5
    done
    log "broker did not answer on $bootstrap within 120 s"
    return 1
}

start() {
    if [[ -f "$run_dir/kafka.pid" ]] && kill -0 "$(cat "$run_dir/kafka.pid")" 2>/dev/null; then
        log "already running"
        cat "$run_dir/kafka.bootstrap"
        return 0
    fi
    ensure_tools
    local libs port controller_port dir cluster_id pid
    libs="$(ensure_libs)"
    port="${KINESTREAM_KAFKA_PORT:-$(free_port)}"
    controller_port="$(free_port)"
    dir="${TMPDIR:-/tmp}/kinestream-kafka-$port"
    rm -rf "$dir"
    mkdir -p "$dir/data" "$run_dir"
    write_config "$dir" "$port" "$controller_port"

    local java_opts=(-Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
        "-Dlog4j2.configurationFile=$dir/log4j2.properties")
    cluster_id="${KINESTREAM_KAFKA_CLUSTER_ID:-$(random_cluster_id)}"
    # `--cluster-id=ID`, not `--cluster-id ID`: an ID that starts with `-` stays a value.
    java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
        "--cluster-id=$cluster_id" --config "$dir/server.properties" >"$dir/format.log" 2>&1 ||
        { log "formatting storage failed:"; cat "$dir/format.log" >&2; return 1; }

    nohup java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$dir/server.properties" \
        >"$dir/stdout.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$run_dir/kafka.pid"
    echo "$dir" >"$run_dir/kafka.dir"
    if ! wait_ready "127.0.0.1:$port" "$pid" "$dir"; then
        stop
        return 1
    fi
    echo "127.0.0.1:$port" >"$run_dir/kafka.bootstrap"
    log "broker up at 127.0.0.1:$port (pid $pid, logs in $dir)"
    echo "127.0.0.1:$port"
}

stop() {
    local dir
    stop_pid "$run_dir/kafka.pid" 30
    if [[ -f "$run_dir/kafka.dir" ]]; then
        dir="$(cat "$run_dir/kafka.dir")"
        [[ "$dir" == */kinestream-kafka-* ]] && rm -rf "$dir"
    fi
    rm -f "$run_dir/kafka.pid" "$run_dir/kafka.dir" "$run_dir/kafka.bootstrap"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac

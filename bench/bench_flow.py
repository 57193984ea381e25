"""Benchmark of the analysis flow in pose mode through the real broker (not a timed test).

(a) Capacity against the limit, in the same run: a backlog of ``--backlog`` pose messages
    (``--backlog-streams`` streams, ends included) on fresh topics, drained once by the bare
    passthrough (one process, confluent-kafka: consume each pose message, produce one small
    JSON event, the flow's producer settings: lz4, ``linger.ms`` 5) and once by the flow with
    1 and 2 processes (``-i/-a``); frames/s of each and the flow's as a ratio of the
    passthrough's (target ≥ 0.4). Each also prints its CPU time a message from the first
    one consumed (the flow's, all its processes' from its first event on), and the flow's
    as a ratio of the passthrough's: the part of the ratio that other work on the machine
    does not move.
(b) Live streams: for each stream count and process count, fresh topics, ``N`` streams
    sending synthetic CMJ poses at ``--fps`` for ``--duration-s``; prints frames/s, the
    pipeline latency (P50/P95/P99, target P95 ≤ 100 ms; capture timestamp = wall clock at
    produce; see :class:`LatencyCollector`) and the flow processes' memory per active stream.
(c) Churn: ``--churn`` streams start, send a few poses and end, twice, and the flow's memory
    is compared with before (state of ended streams must be gone once their end marker
    expires).

Frames' values come a few to an event (``metric_updates``); every count here is of frames.

    KINESTREAM_KAFKA=127.0.0.1:9092 .venv/bin/python bench/bench_flow.py --streams 10 100 1000
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import pickle
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kinestream import wire
from kinestream.events import AnalysisEvent, frame_updates
from kinestream.flows import snapshots
from kinestream.flows.stream_logic import StreamSnapshot
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.metric_batches import METRIC_INTERVAL_S
from kinestream.operators.pose import PoseSample
from kinestream.operators.smoothing import half_window
from kinestream.simulation.scenarios import countermovement_jumps
from kinestream.sports import Sport

REPO = Path(__file__).resolve().parents[1]
TARGET_P95_MS = 100.0
TARGET_RATIO = 0.4
CHURN_IDLE_S = 5.0
FIRST_PORT = 2101
SINK_CONFIG = {"linger.ms": "5", "compression.type": "lz4"}
"""The flow's Kafka sink settings (kinestream.flows.analysis), which the passthrough copies."""
LOAD_CONFIG = {"enable.idempotence": "true"}
"""The load generators' producers keep each partition's order through retries, as the
project's own producers do (a fresh broker refuses the first requests while its partitions
get leaders: without idempotence the retried batches land after later ones, and the flow
counts those poses as late, unanalysed)."""


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU time (user and system) a process has used so far, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_topics(brokers: str, partitions: int) -> wire.Topics:
    topics = wire.Topics.prefixed(f"bench-{uuid.uuid4().hex[:8]}.")
    admin = AdminClient({"bootstrap.servers": brokers})
    names = [topics.frames, topics.poses, topics.control, topics.events, topics.webhooks]
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(30)
    return topics


class Flow:
    """``kinestream flow --no-frames`` as ``processes`` processes on this machine."""

    def __init__(
        self,
        brokers: str,
        topics: wire.Topics,
        processes: int,
        idle_s: float,
        log: Path,
        snapshot_s: float = 10.0,
    ) -> None:
        env = {
            **os.environ,
            "KINESTREAM_KAFKA": brokers,
            "KINESTREAM_TOPIC_FRAMES": topics.frames,
            "KINESTREAM_TOPIC_POSES": topics.poses,
            "KINESTREAM_TOPIC_CONTROL": topics.control,
            "KINESTREAM_TOPIC_EVENTS": topics.events,
            "KINESTREAM_TOPIC_WEBHOOKS": topics.webhooks,
        }
        env.pop("KINESTREAM_DATABASE_URL", None)
        args = ["--no-frames", "--idle-timeout-s", str(idle_s)]
        args += ["--snapshot-interval-s", str(snapshot_s)]
        if processes > 1:
            addresses = ";".join(f"127.0.0.1:{FIRST_PORT + i}" for i in range(processes))
            cluster = [["-i", str(i), "-a", addresses] for i in range(processes)]
        else:
            cluster = [[]]
        with log.open("ab") as out:
            self.processes = [
                subprocess.Popen(
                    [sys.executable, "-m", "kinestream.cli", "flow", *args, *extra],
                    cwd=REPO,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
                for extra in cluster
            ]

    def rss_mib(self) -> float:
        """Resident memory of all its processes, MiB."""
        return sum(rss_mib(p.pid) for p in self.processes)

    def cpu_s(self) -> float:
        """CPU time all its processes have used so far, seconds."""
        return sum(cpu_s(p.pid) for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()


class LatencyCollector(threading.Thread):
    """Reads the events topic; records two latencies of each frame's values.

    ``pipeline``: from producing the frame whose arrival made the flow emit the event (a
    ``metric_updates`` leaves with its last frame), to the event on the events topic (Kafka,
    the flow, Kafka). ``frame``: from producing each frame the event is about: the pipeline
    plus the smoother's fixed lag (``half`` frames once a stream is calibrated, when its
    values carry a CoM height) plus the wait for the batch's last frame.
    """

    def __init__(self, brokers: str, topic: str, fps: float) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": f"bench-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
            }
        )
        self.consumer.subscribe([topic])
        self.lag_s = half_window(fps) / fps
        self.latencies_s: list[float] = []
        self.frame_latencies_s: list[float] = []
        self.frames = 0
        """Frames whose values arrived, before and after the cutoff."""
        self.first_at = self.last_at = 0.0
        self.summaries = 0
        self.stop = threading.Event()
        self.cutoff = False
        """Set when the streams' ends are sent: later values come from ``finish``."""

    def run(self) -> None:
        while not self.stop.is_set():
            # consume() waits for its whole count or its timeout: wait for one message
            # only, then take what else is there, so the clock is read as events arrive.
            first = self.consumer.poll(0.2)
            if first is None:
                continue
            for msg in (first, *self.consumer.consume(5000, timeout=0)):
                if msg.error() is not None:
                    continue
                now = time.time()
                kind = dict(msg.headers() or []).get(wire.HEADER_EVENT_TYPE)
                if kind in (b"metric_update", b"metric_updates"):
                    self._frames(wire.decode_event(msg.key(), msg.value()), now)
                elif kind == b"session_summary":
                    self.summaries += 1

    def _frames(self, event: AnalysisEvent, now: float) -> None:
        frames = frame_updates(event)
        self.frames += len(frames)
        self.first_at = self.first_at or now
        self.last_at = now
        if self.cutoff:
            return
        smoothed = frames[-1].payload.get("com_height_m") is not None
        pipeline = now - event.capture_time_s - (self.lag_s if smoothed else 0.0)
        for frame in frames:
            self.latencies_s.append(pipeline)
            self.frame_latencies_s.append(now - frame.capture_time_s)

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        self.consumer.close()


def pose_message(
    sid: str, seq: int, base: PoseSample, fps: float, capture_s: float | None = None
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A pose message captured at ``capture_s`` (default: now)."""
    when = time.time() if capture_s is None else capture_s
    sample = PoseSample(seq, when, base.image_width, base.image_height, base.landmarks)
    return wire.encode_pose(sid, sample, fps)


def produce_control(producer: Producer, topics: wire.Topics, message: wire.ControlMessage) -> None:
    key, value = wire.encode_control(message)
    producer.produce(topics.control, value, key)


def pose_template() -> list[PoseSample]:
    return countermovement_jumps(reps=3, seed=1).samples


def held_frames(fps: float) -> int:
    """Frames a stream's values may wait for the next frame (or the end): the smoother's lag
    and an open batch."""
    return half_window(fps) + math.ceil(METRIC_INTERVAL_S * fps) + 1


# --- (a) capacity --------------------------------------------------------------------------


def passthrough(brokers: str, source: str, target: str, count: int) -> None:
    """The bare limit: consume ``count`` messages of ``source`` from its beginning, produce
    one small JSON event each to ``target``; print the messages/s from the first consumed
    to the last delivered."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"bench-passthrough-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    metadata = consumer.list_topics(source, timeout=30)
    consumer.assign(
        [TopicPartition(source, p, 0) for p in sorted(metadata.topics[source].partitions)]
    )
    producer = Producer({"bootstrap.servers": brokers, **SINK_CONFIG})
    seen, started, cpu_started = 0, 0.0, 0.0
    while seen < count:
        for msg in consumer.consume(1000, timeout=1.0):
            if msg.error() is not None:
                continue
            if not started:
                started, cpu_started = time.perf_counter(), time.process_time()
            key = msg.key() or b""
            event = {"stream_id": key.decode(), "offset": msg.offset()}
            producer.produce(target, json.dumps(event).encode(), key)
            seen += 1
        producer.poll(0)
    producer.flush(60)
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    print(json.dumps({"messages": seen, "seconds": seconds, "cpu_s": cpu_s}), flush=True)
    consumer.close()


def fill_backlog(args: argparse.Namespace, topics: wire.Topics, template: list[PoseSample]) -> int:
    """Produce the backlog: starts, ``--backlog`` poses over ``--backlog-streams`` streams
    (captured ``1 / --fps`` apart, as a camera's), ends naming their last frame; return the
    poses' count."""
    producer = Producer(
        {"bootstrap.servers": args.brokers, "linger.ms": 20, **SINK_CONFIG, **LOAD_CONFIG}
    )
    streams = args.backlog_streams
    frames = max(1, args.backlog // streams)
    ids = [f"backlog-{i}" for i in range(streams)]
    for sid in ids:
        produce_control(producer, topics, wire.StartMessage(sid, Sport.CMJ, 1.8))
    first = time.time() - frames / args.fps
    for k in range(frames):
        capture_s = first + k / args.fps
        for sid in ids:
            base = template[k % len(template)]
            key, value, headers = pose_message(sid, k, base, args.fps, capture_s)
            producer.produce(topics.poses, value, key, headers=list(headers))
        producer.poll(0)
    for sid in ids:
        produce_control(producer, topics, wire.EndMessage(sid, frames - 1))
    producer.flush(120)
    return int(frames * streams)


def run_capacity(args: argparse.Namespace, template: list[PoseSample]) -> None:
    topics = make_topics(args.brokers, args.partitions)
    count = fill_backlog(args, topics, template)
    bare = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_flow",
            "--brokers",
            args.brokers,
            "--passthrough",
            topics.poses,
            topics.webhooks,
            str(count),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result = json.loads(bare.stdout.strip().splitlines()[-1])
    bare_rate = result["messages"] / result["seconds"]
    bare_cpu_us = result["cpu_s"] / result["messages"] * 1e6
    print(
        f"(a) capacity on a backlog of {count} poses ({args.backlog_streams} streams): "
        f"bare passthrough {bare_rate:7.0f} messages/s, {bare_cpu_us:.1f} µs CPU a message",
        flush=True,
    )
    admin = AdminClient({"bootstrap.servers": args.brokers})
    for processes in args.processes:
        events = f"{topics.events}-{processes}p"
        admin.create_topics([NewTopic(events, args.partitions, 1)])[events].result(30)
        flow_topics = wire.Topics(
            frames=topics.frames,
            poses=topics.poses,
            control=topics.control,
            events=events,
            webhooks=f"{topics.webhooks}-{processes}p",
        )
        collector = LatencyCollector(args.brokers, events, args.fps)
        collector.start()
        flow = Flow(args.brokers, flow_topics, processes, 60, Path(args.log), args.snapshot_s)
        cpu_at_first = cpu = 0.0
        try:
            deadline = time.time() + args.drain_s * 10
            while collector.frames < count and time.time() < deadline:
                time.sleep(0.05)
                cpu = flow.cpu_s()
                if not cpu_at_first and collector.frames:
                    cpu_at_first = cpu  # startup (imports, connecting) left out
        finally:
            flow.stop()
            collector.close()
        span = max(collector.last_at - collector.first_at, 1e-9)
        rate = collector.frames / span
        cpu_us = (cpu - cpu_at_first) / max(collector.frames, 1) * 1e6
        print(
            f"    flow, {processes} process{'es' if processes > 1 else ''}: {rate:7.0f} frames/s "
            f"({collector.frames} of {count} frames); {rate / bare_rate:.2f} x the passthrough "
            f"(target ≥ {TARGET_RATIO}); {cpu_us:.1f} µs CPU a frame, "
            f"{bare_cpu_us / cpu_us:.2f} x the passthrough's CPU a message",
            flush=True,
        )


# --- (b) live streams ----------------------------------------------------------------------


def run_streams(
    args: argparse.Namespace, streams: int, processes: int, template: list[PoseSample]
) -> None:
    brokers = args.brokers
    topics = make_topics(brokers, args.partitions)
    flow = Flow(brokers, topics, processes, 60, Path(args.log), args.snapshot_s)
    collector = LatencyCollector(brokers, topics.events, args.fps)
    collector.start()
    producer = Producer(
        {
            "bootstrap.servers": brokers,
            "linger.ms": 2,
            "queue.buffering.max.messages": 2_000_000,
            **LOAD_CONFIG,
        }
    )
    try:
        time.sleep(args.warmup_s)
        rss_idle = flow.rss_mib()
        ids = [f"s{streams}-{i}" for i in range(streams)]
        for sid in ids:
            produce_control(producer, topics, wire.StartMessage(sid, Sport.CMJ, 1.8))
        producer.flush()
        period = 1.0 / args.fps
        frames = int(args.duration_s * args.fps)
        t_start = time.time()
        sent = 0
        for k in range(frames):
            delay = t_start + k * period - time.time()
            if delay > 0:
                time.sleep(delay)
            base = template[k % len(template)]
            for sid in ids:
                key, value, headers = pose_message(sid, k, base, args.fps)
                producer.produce(topics.poses, value, key, headers=list(headers))
                sent += 1
            producer.poll(0)
        producer.flush()
        produce_s = time.time() - t_start
        rss_active = flow.rss_mib()
        # The last few frames of each stream wait for the end (smoother lag, open batch).
        expected = sent - streams * held_frames(args.fps)
        deadline = time.time() + args.drain_s
        while collector.frames < expected and time.time() < deadline:
            time.sleep(0.1)
        collector.cutoff = True
        for sid in ids:
            produce_control(producer, topics, wire.EndMessage(sid, frames - 1))
        producer.flush()
        deadline = time.time() + args.drain_s
        while collector.summaries < streams and time.time() < deadline:
            time.sleep(0.2)
    finally:
        collector.close()
        flow.stop()
    lat = np.array(collector.latencies_s) * 1000
    frame_lat = np.array(collector.frame_latencies_s) * 1000
    span = max(collector.last_at - collector.first_at, 1e-9)
    p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if lat.size else (np.nan,) * 3
    f95 = np.percentile(frame_lat, 95) if frame_lat.size else np.nan
    print(
        f"streams={streams:5d} x {processes} process{'es' if processes > 1 else '  '} "
        f"fps={args.fps:g} sent={sent} analysed={collector.frames} "
        f"({collector.frames / max(sent, 1):.1%}) offered={sent / produce_s:6.0f} frames/s "
        f"analysed={lat.size / span:6.0f} frames/s  pipeline latency ms P50={p50:6.1f} "
        f"P95={p95:6.1f} P99={p99:6.1f} (P95/target {p95 / TARGET_P95_MS:.2f}); "
        f"frame to its values P95={f95:6.1f} (incl. {collector.lag_s * 1000:.0f} ms smoothing "
        f"lag and the batch)  RSS idle={rss_idle:.0f} MiB active={rss_active:.0f} MiB "
        f"→ {(rss_active - rss_idle) * 1024 / streams:.1f} KiB/stream",
        flush=True,
    )


# --- (c) churn -----------------------------------------------------------------------------


def run_churn(args: argparse.Namespace, template: list[PoseSample]) -> None:
    """Two rounds of ``--churn`` short streams; the flow's memory after each.

    The first round shows what the flow keeps of streams that came and went (or what the
    allocator keeps of the memory they used); a second round that adds little more shows
    that it does not grow with the number of streams.
    """
    brokers = args.brokers
    topics = make_topics(brokers, args.partitions)
    flow = Flow(brokers, topics, 1, CHURN_IDLE_S, Path(args.log), args.snapshot_s)
    collector = LatencyCollector(brokers, topics.events, args.fps)
    collector.start()
    producer = Producer(
        {
            "bootstrap.servers": brokers,
            "linger.ms": 5,
            "queue.buffering.max.messages": 2_000_000,
            **LOAD_CONFIG,
        }
    )
    rss = []
    try:
        time.sleep(args.warmup_s)
        rss.append(flow.rss_mib())
        for round_ in (1, 2):
            for i in range(args.churn):
                sid = f"churn-{round_}-{i}"
                produce_control(producer, topics, wire.StartMessage(sid, Sport.CMJ, 1.8))
                for k in range(args.churn_frames):
                    key, value, headers = pose_message(sid, k, template[k], args.fps)
                    producer.produce(topics.poses, value, key, headers=list(headers))
                produce_control(producer, topics, wire.EndMessage(sid, args.churn_frames - 1))
                producer.poll(0)
            producer.flush()
            deadline = time.time() + args.drain_s * 4
            while collector.summaries < round_ * args.churn and time.time() < deadline:
                time.sleep(0.5)
            time.sleep(CHURN_IDLE_S + 2.0)  # the ended streams' markers expire meanwhile
            rss.append(flow.rss_mib())
    finally:
        collector.close()
        flow.stop()
    per_stream = [(b - a) * 1024 * 1024 / args.churn for a, b in pairwise(rss)]
    print(
        f"churn: 2 x {args.churn} streams x {args.churn_frames} frames came and went; "
        f"summaries seen={collector.summaries}; flow RSS before={rss[0]:.0f} MiB, after the "
        f"first round={rss[1]:.0f} MiB ({per_stream[0]:+.0f} B/stream), after the second="
        f"{rss[2]:.0f} MiB ({per_stream[1]:+.0f} B/stream)",
        flush=True,
    )


def snapshot_size(template: list[PoseSample]) -> None:
    """Size of a stream's snapshot, and what it costs: the per-stream step pickles its state
    (:mod:`kinestream.flows.snapshots`) for every stream that changed, at every epoch's end;
    and, for comparison, the deep copy and standard pickle it used to take."""
    analyzer = StreamAnalyzer(StreamConfig("x", Sport.CMJ, 1.8))
    sizes = []
    for i, sample in enumerate(template):
        analyzer.process(sample)
        if i in (30, 300, len(template) - 1):
            state = StreamSnapshot("x", None, analyzer, emitted=i)
            started = time.perf_counter()
            for _ in range(10):
                size = len(snapshots.dumps(state))
            ms = (time.perf_counter() - started) / 10 * 1e3
            started = time.perf_counter()
            for _ in range(10):
                pickle.dumps(copy.deepcopy(state))
            sizes.append((i + 1, size, ms, (time.perf_counter() - started) / 10 * 1e3))
    print(
        "stream snapshot after N frames: "
        + ", ".join(
            f"{n}: {b} bytes, {ms:.2f} ms (deep copy + pickle: {old:.2f} ms)"
            for n, b, ms, old in sizes
        ),
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--brokers", default=os.environ.get("KINESTREAM_KAFKA", "127.0.0.1:9092"))
    parser.add_argument("--streams", type=int, nargs="*", default=[10, 100, 300, 1000])
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--duration-s", type=float, default=5.0)
    parser.add_argument("--drain-s", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=4.0)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--snapshot-s",
        type=float,
        default=10.0,
        help="the flow's epoch (--snapshot-interval-s; default 10, the flow's own): every "
        "stream that changed is snapshotted at each epoch's end, recovery or not",
    )
    parser.add_argument("--backlog", type=int, default=60_000, help="poses of (a); 0: skip (a)")
    parser.add_argument("--backlog-streams", type=int, default=1000)
    parser.add_argument("--churn", type=int, default=10_000, help="streams of (c); 0: skip (c)")
    parser.add_argument("--churn-frames", type=int, default=3)
    parser.add_argument("--log", default="/tmp/kinestream-bench-flow.log")
    parser.add_argument(
        "--passthrough", nargs=3, metavar=("SOURCE", "TARGET", "COUNT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.passthrough:
        source, target, count = args.passthrough
        passthrough(args.brokers, source, target, int(count))
        return
    template = pose_template()
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]}", flush=True)
    snapshot_size(template)
    if args.backlog:
        run_capacity(args, template)
    print("(b) live streams", flush=True)
    for streams in args.streams:
        for processes in args.processes:
            run_streams(args, streams, processes, template)
    if args.churn:
        run_churn(args, template)


if __name__ == "__main__":
    main()

"""Benchmark of the analysis flow in pose mode through the real broker (not a timed test).

For each stream count: fresh topics, one ``kinestream flow`` process, ``N`` streams sending
synthetic CMJ poses at ``--fps`` for ``--duration-s``; prints analysed frames/s, the
pipeline latency (P50/P95/P99, target P95 ≤ 100 ms; capture timestamp = wall clock at
produce; see :class:`LatencyCollector`) and the flow process's memory per active stream.
Then ``--churn`` streams start, send a few poses and end, and the flow's memory is compared
with before (state of ended streams must be gone once their end marker expires).

    KINESTREAM_KAFKA=127.0.0.1:9092 .venv/bin/python bench/bench_flow.py --streams 10 100 1000
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import threading
import time
import uuid
from itertools import pairwise
from pathlib import Path

import numpy as np
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kinestream import wire
from kinestream.operators.analyzer import StreamAnalyzer, StreamConfig
from kinestream.operators.pose import PoseSample
from kinestream.operators.smoothing import half_window
from kinestream.simulation.scenarios import countermovement_jumps
from kinestream.sports import Sport

REPO = Path(__file__).resolve().parents[1]
TARGET_P95_MS = 100.0
CHURN_IDLE_S = 5.0


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_topics(brokers: str, partitions: int) -> wire.Topics:
    topics = wire.Topics.prefixed(f"bench-{uuid.uuid4().hex[:8]}.")
    admin = AdminClient({"bootstrap.servers": brokers})
    names = [topics.frames, topics.poses, topics.control, topics.events, topics.webhooks]
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(30)
    return topics


def start_flow(
    brokers: str, topics: wire.Topics, idle_s: float, log: Path
) -> subprocess.Popen[bytes]:
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
    args = ["--no-frames", "--idle-timeout-s", str(idle_s), "--snapshot-interval-s", "1"]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kinestream.cli", "flow", *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class LatencyCollector(threading.Thread):
    """Reads the events topic; records two latencies of each ``metric_update``.

    ``pipeline``: from producing the frame whose arrival made the flow emit the update, to
    the update on the events topic (Kafka, the flow, Kafka). ``frame``: from producing the
    frame the update is about: the pipeline plus the smoother's fixed lag, ``half`` frames
    once a stream is calibrated (its updates then carry a CoM height).
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
        self.first_at = self.last_at = 0.0
        self.summaries = 0
        self.stop = threading.Event()
        self.cutoff = False
        """Set when the streams' ends are sent: later events come from ``finish``."""

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
                headers = dict(msg.headers() or [])
                kind = headers.get(wire.HEADER_EVENT_TYPE)
                if kind == b"metric_update" and not self.cutoff:
                    event = wire.decode_event(msg.key(), msg.value())
                    frame_latency = now - event.capture_time_s
                    smoothed = event.payload.get("com_height_m") is not None
                    self.frame_latencies_s.append(frame_latency)
                    self.latencies_s.append(frame_latency - (self.lag_s if smoothed else 0.0))
                    self.first_at = self.first_at or now
                    self.last_at = now
                elif kind == b"session_summary":
                    self.summaries += 1
        self.consumer.close()


def produce_control(producer: Producer, topics: wire.Topics, message: wire.ControlMessage) -> None:
    key, value = wire.encode_control(message)
    producer.produce(topics.control, value, key)


def pose_template() -> list[PoseSample]:
    return countermovement_jumps(reps=3, seed=1).samples


def run_streams(args: argparse.Namespace, streams: int, template: list[PoseSample]) -> None:
    brokers = args.brokers
    topics = make_topics(brokers, args.partitions)
    flow = start_flow(brokers, topics, idle_s=60, log=Path(args.log))
    collector = LatencyCollector(brokers, topics.events, args.fps)
    collector.start()
    producer = Producer(
        {"bootstrap.servers": brokers, "linger.ms": 2, "queue.buffering.max.messages": 2_000_000}
    )
    try:
        time.sleep(args.warmup_s)
        rss_idle = rss_mib(flow.pid)
        ids = [f"s{streams}-{i}" for i in range(streams)]
        for sid in ids:
            produce_control(
                producer,
                topics,
                wire.StartMessage(sid, Sport.CMJ, 1.8),
            )
        producer.flush()
        period = 1.0 / args.fps
        frames = int(args.duration_s * args.fps)
        t_start = time.time()
        sent = 0
        for k in range(frames):
            due = t_start + k * period
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            base = template[k % len(template)]
            for sid in ids:
                sample = PoseSample(
                    k, time.time(), base.image_width, base.image_height, base.landmarks
                )
                key, value, headers = wire.encode_pose(sid, sample, args.fps)
                producer.produce(topics.poses, value, key, headers=list(headers))
                sent += 1
            producer.poll(0)
        producer.flush()
        produce_s = time.time() - t_start
        rss_active = rss_mib(flow.pid)
        deadline = time.time() + args.drain_s
        while len(collector.latencies_s) < sent and time.time() < deadline:
            time.sleep(0.2)
        collector.cutoff = True
        for sid in ids:
            produce_control(producer, topics, wire.EndMessage(sid))
        producer.flush()
        time.sleep(1.0)
    finally:
        collector.stop.set()
        collector.join(5)
        flow.kill()
        flow.wait()
    lat = np.array(collector.latencies_s) * 1000
    frame_lat = np.array(collector.frame_latencies_s) * 1000
    span = max(collector.last_at - collector.first_at, 1e-9)
    p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if lat.size else (np.nan,) * 3
    f95 = np.percentile(frame_lat, 95) if frame_lat.size else np.nan
    print(
        f"streams={streams:5d} fps={args.fps:g} sent={sent} analysed={lat.size} "
        f"({lat.size / max(sent, 1):.1%}) offered={sent / produce_s:6.0f} frames/s "
        f"analysed={lat.size / span:6.0f} frames/s  pipeline latency ms P50={p50:6.1f} "
        f"P95={p95:6.1f} P99={p99:6.1f} (P95/target {p95 / TARGET_P95_MS:.2f}); "
        f"frame to its update P95={f95:6.1f} (incl. {collector.lag_s * 1000:.0f} ms smoothing "
        f"lag)  RSS idle={rss_idle:.0f} MiB active={rss_active:.0f} MiB "
        f"→ {(rss_active - rss_idle) * 1024 / streams:.1f} KiB/stream",
        flush=True,
    )


def run_churn(args: argparse.Namespace, template: list[PoseSample]) -> None:
    """Two rounds of ``--churn`` short streams; the flow's memory after each.

    The first round shows what the flow keeps of streams that came and went (or what the
    allocator keeps of the memory they used); a second round that adds little more shows
    that it does not grow with the number of streams.
    """
    brokers = args.brokers
    topics = make_topics(brokers, args.partitions)
    flow = start_flow(brokers, topics, idle_s=CHURN_IDLE_S, log=Path(args.log))
    collector = LatencyCollector(brokers, topics.events, args.fps)
    collector.start()
    producer = Producer(
        {"bootstrap.servers": brokers, "linger.ms": 5, "queue.buffering.max.messages": 2_000_000}
    )
    rss = []
    try:
        time.sleep(args.warmup_s)
        rss.append(rss_mib(flow.pid))
        for round_ in (1, 2):
            for i in range(args.churn):
                sid = f"churn-{round_}-{i}"
                produce_control(producer, topics, wire.StartMessage(sid, Sport.CMJ, 1.8))
                for k in range(args.churn_frames):
                    base = template[k]
                    sample = PoseSample(
                        k, time.time(), base.image_width, base.image_height, base.landmarks
                    )
                    key, value, headers = wire.encode_pose(sid, sample, args.fps)
                    producer.produce(topics.poses, value, key, headers=list(headers))
                produce_control(producer, topics, wire.EndMessage(sid, args.churn_frames - 1))
                producer.poll(0)
            producer.flush()
            deadline = time.time() + args.drain_s * 4
            while collector.summaries < round_ * args.churn and time.time() < deadline:
                time.sleep(0.5)
            time.sleep(CHURN_IDLE_S + 2.0)  # the ended streams' markers expire meanwhile
            rss.append(rss_mib(flow.pid))
    finally:
        collector.stop.set()
        collector.join(5)
        flow.kill()
        flow.wait()
    per_stream = [(b - a) * 1024 * 1024 / args.churn for a, b in pairwise(rss)]
    print(
        f"churn: 2 x {args.churn} streams x {args.churn_frames} frames came and went; "
        f"summaries seen={collector.summaries}; flow RSS before={rss[0]:.0f} MiB, after the "
        f"first round={rss[1]:.0f} MiB ({per_stream[0]:+.0f} B/stream), after the second="
        f"{rss[2]:.0f} MiB ({per_stream[1]:+.0f} B/stream)",
        flush=True,
    )


def snapshot_size(template: list[PoseSample]) -> None:
    analyzer = StreamAnalyzer(StreamConfig("x", Sport.CMJ, 1.8))
    sizes = []
    for i, sample in enumerate(template):
        analyzer.process(sample)
        if i in (30, 300, len(template) - 1):
            sizes.append((i + 1, len(pickle.dumps(analyzer))))
    print(
        "analyzer snapshot (pickled) bytes after N frames: "
        + ", ".join(f"{n}: {b}" for n, b in sizes)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--brokers", default=os.environ.get("KINESTREAM_KAFKA", "127.0.0.1:9092"))
    parser.add_argument("--streams", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--duration-s", type=float, default=5.0)
    parser.add_argument("--drain-s", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=4.0)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--churn", type=int, default=10_000)
    parser.add_argument("--churn-frames", type=int, default=3)
    parser.add_argument("--log", default="/tmp/kinestream-bench-flow.log")
    args = parser.parse_args()
    template = pose_template()
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]}", flush=True)
    snapshot_size(template)
    for streams in args.streams:
        run_streams(args, streams, template)
    if args.churn:
        run_churn(args, template)


if __name__ == "__main__":
    main()

"""``kinestream flow``: run the analysis dataflow (a wrapper around Bytewax's ``cli_main``).

One process::

    kinestream flow --brokers 127.0.0.1:9092 --database-url postgresql://...

A cluster of processes (each runs this with its own ``-i``; workers are threads, so scale
with processes)::

    kinestream flow -i 0 -a "host0:2101;host1:2101"
    kinestream flow -i 1 -a "host0:2101;host1:2101"

With ``--recovery-dir`` the flow snapshots its state (Kafka offsets and every stream's
analyzer) every ``--snapshot-interval-s`` and resumes from the last snapshot after a crash;
on first use process 0 (or a lone process) creates ``--recovery-partitions`` sqlite files
in ``RECOVERY_DIR/partitions`` (made aside and renamed into place, so the other processes,
which wait for it, see all of them or none). Every process of a cluster must see the same
directory (a shared volume). A directory that already holds ``part-*.sqlite3`` files (made
with ``python -m bytewax.recovery``) is used as it is.
Without recovery the Kafka source starts from the topics' beginning (``--from-end`` to skip
the backlog); the outputs are idempotent either way.

With ``--recovery-dir`` each worker also records, in ``RECOVERY_DIR/inflight``, the item it
is analysing. A message a worker died on is retried once when the flow starts again; one
that made workers die ``--quarantine-after`` times (default 2) is skipped: it goes to the
dead-letter topic (kinestream.deadletter) with its topic, partition and offset, and its
stream gets an error event (quarantined). So one message cannot make the flow die on every
restart.

Frames mode (the frames topic, unless --no-frames) estimates poses in the flow. With
--pose onnx (the default) the frames of many streams are gathered into batches of at most
16 frames, one per stream, that wait at most 20 ms, and BlazePose runs each batch on ONNX
Runtime (the models once per process) on --device: cuda when onnxruntime offers CUDA (the
onnxruntime-gpu package), else cpu; the same code on both. A stream keeps at most 2 frames
waiting: a second one runs a batch at once, and while inference runs the worker reads no
Kafka messages, so a backlog waits in Kafka and every frame of it is analysed. Only a
frame more than --max-frame-lag-s behind live (Kafka got it that long ago) is skipped, when
a newer frame of its stream is waiting, with a quality_warning (frame_dropped): a stream
that far behind skips frames until it is within the bound, and under a steady overload it
skips frames evenly and stays about that far behind. The default, 30 s, is above what a
restart replays (--snapshot-interval-s plus the restart itself), so a flow restarted after
a crash analyses every frame again; one down for longer skips to 30 s behind live and
catches up from there with every frame. 0 never skips (the default with --stop-at-end: a
backfill takes every frame). The stage is split into --pose-buckets keys that Bytewax
routes to workers (default: the number of workers). With --pose mediapipe each stream runs
its own MediaPipe graph (about 110 MiB each) and takes every frame.

A worker runs at most --max-frame-streams frame streams at once (default 512 with onnx,
14 with mediapipe: a 2 GiB budget per worker; see kinestream.flows.budget); one more gets
an error event (frame_streams_full) and is ended.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from kinestream.flows.budget import MEDIAPIPE_MAX_FRAME_STREAMS, ONNX_MAX_FRAME_STREAMS
from kinestream.flows.inflight import DEFAULT_QUARANTINE_AFTER
from kinestream.operators.blazepose.batcher import DEFAULT_MAX_FRAME_LAG_S, BatchPolicy


def add_flow_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``kinestream flow`` to the command's subparsers."""
    env = os.environ.get
    flow = sub.add_parser(
        "flow",
        help="run the streaming analysis dataflow on Kafka",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flow.add_argument("-i", "--process-id", type=int, default=None, help="this process's id")
    flow.add_argument(
        "-a", "--addresses", default=None, help='all processes, "host:port;host:port;..."'
    )
    flow.add_argument(
        "-w", "--workers-per-process", type=int, default=1, help="worker threads (default 1)"
    )
    flow.add_argument(
        "--recovery-dir",
        type=Path,
        default=env("KINESTREAM_RECOVERY_DIR") or None,
        help="recovery partitions directory (default: $KINESTREAM_RECOVERY_DIR; none: no recovery)",
    )
    flow.add_argument(
        "--recovery-partitions",
        type=int,
        default=1,
        help="partitions to create in a new recovery directory (default 1)",
    )
    flow.add_argument(
        "--snapshot-interval-s",
        type=float,
        default=float(env("KINESTREAM_SNAPSHOT_INTERVAL_S", "10")),
        help="epoch length: state is snapshotted this often (default 10)",
    )
    flow.add_argument(
        "--brokers",
        default=env("KINESTREAM_KAFKA", "127.0.0.1:9092"),
        help="comma-separated Kafka brokers (default: $KINESTREAM_KAFKA)",
    )
    flow.add_argument(
        "--database-url",
        default=env("KINESTREAM_DATABASE_URL") or None,
        help="PostgreSQL URL (default: $KINESTREAM_DATABASE_URL; none: no database output)",
    )
    flow.add_argument("--topic-prefix", default="", help="put in front of every default topic name")
    flow.add_argument(
        "--idle-timeout-s",
        type=float,
        default=float(env("KINESTREAM_IDLE_TIMEOUT_S", "30")),
        help="finish a stream after this long without input (default 30)",
    )
    flow.add_argument("--no-frames", action="store_true", help="do not consume the frames topic")
    flow.add_argument(
        "--pose",
        choices=("onnx", "mediapipe"),
        default=env("KINESTREAM_POSE") or "onnx",
        help="frames mode's pose estimation: onnx, batched across streams, or mediapipe, a "
        "graph per stream (default: $KINESTREAM_POSE, else onnx)",
    )
    flow.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=env("KINESTREAM_DEVICE") or None,
        help="where --pose onnx runs (default: $KINESTREAM_DEVICE, else cuda when onnxruntime "
        "offers CUDA, else cpu)",
    )
    flow.add_argument(
        "--pose-buckets",
        type=int,
        default=int(env("KINESTREAM_POSE_BUCKETS") or 0) or None,
        help="keys the batched pose stage is split into, each one batcher on one worker "
        "(default: $KINESTREAM_POSE_BUCKETS, else the number of workers)",
    )
    flow.add_argument(
        "--max-frame-lag-s",
        type=float,
        default=float(lag) if (lag := env("KINESTREAM_MAX_FRAME_LAG_S")) else None,
        help="with --pose onnx: skip a stream's frame that Kafka got more than this long ago "
        "when a newer one waits; 0: never (default: $KINESTREAM_MAX_FRAME_LAG_S, else 0 with "
        f"--stop-at-end, else {DEFAULT_MAX_FRAME_LAG_S:g}: above a restart's replay)",
    )
    flow.add_argument(
        "--max-frame-streams",
        type=int,
        default=int(limit) if (limit := env("KINESTREAM_MAX_FRAME_STREAMS")) else None,
        help="frame streams a worker runs at once (default: $KINESTREAM_MAX_FRAME_STREAMS, "
        f"else {ONNX_MAX_FRAME_STREAMS} with onnx, {MEDIAPIPE_MAX_FRAME_STREAMS} with "
        "mediapipe)",
    )
    flow.add_argument(
        "--quarantine-after",
        type=int,
        default=DEFAULT_QUARANTINE_AFTER,
        help="with --recovery-dir: skip a message once workers died on it this many times "
        f"(default {DEFAULT_QUARANTINE_AFTER}: the first death is retried)",
    )
    flow.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="Kafka messages per batch; events leave at the end of a batch "
        "(default 1000 for poses only, 32 with frames)",
    )
    flow.add_argument(
        "--from-end", action="store_true", help="without recovery state, skip the topics' backlog"
    )
    flow.add_argument(
        "--stop-at-end",
        action="store_true",
        help="stop once every input partition is read to its current end (backfills, tests)",
    )
    flow.set_defaults(handler=run_flow_command)


def run_flow_command(args: argparse.Namespace) -> int:
    """Build the flow from the options and run it until it is stopped."""
    from datetime import timedelta

    from bytewax.recovery import RecoveryConfig
    from bytewax.run import cli_main

    from kinestream.flows.analysis import FlowSettings, build_flow, collect_rarely
    from kinestream.flows.pose_stage import PoseStageSettings
    from kinestream.flows.stream_logic import StreamSettings
    from kinestream.wire import Topics

    if (args.process_id is None) != (args.addresses is None):
        print("kinestream flow: -i and -a go together", file=sys.stderr)
        return 2
    if args.batch_size is not None and args.batch_size < 1:
        print("kinestream flow: --batch-size must be at least 1", file=sys.stderr)
        return 2
    if (args.max_frame_streams or 0) < 0 or args.quarantine_after < 1:
        print(
            "kinestream flow: --max-frame-streams must be 0 or more and --quarantine-after "
            "at least 1",
            file=sys.stderr,
        )
        return 2
    if args.pose_buckets is not None and args.pose_buckets < 1:
        print("kinestream flow: --pose-buckets must be at least 1", file=sys.stderr)
        return 2
    max_frame_lag_s = frame_lag_bound(args)
    if not max_frame_lag_s >= 0:
        print("kinestream flow: --max-frame-lag-s must be 0 or more", file=sys.stderr)
        return 2
    if args.device == "cuda":
        from kinestream.operators.blazepose.runtime import cuda_available

        if not cuda_available():
            print("kinestream flow: --device cuda needs onnxruntime-gpu and CUDA", file=sys.stderr)
            return 2
    if args.database_url is not None:
        from kinestream.store.migrations import schema_problem

        problem = schema_problem(args.database_url)
        if problem is not None:
            print(f"kinestream flow: {problem}", file=sys.stderr)
            return 2
    workers = args.workers_per_process * (len(args.addresses.split(";")) if args.addresses else 1)
    buckets = args.pose_buckets or workers
    settings = FlowSettings(
        brokers=tuple(b.strip() for b in args.brokers.split(",") if b.strip()),
        topics=Topics.from_env(prefix=args.topic_prefix),
        database_url=args.database_url,
        frames=not args.no_frames,
        from_end=args.from_end,
        tail=not args.stop_at_end,
        pose=args.pose,
        pose_stage=PoseStageSettings(
            device=args.device,
            policy=BatchPolicy(max_frame_lag_s=max_frame_lag_s),
            buckets=buckets,
        ),
        stream=StreamSettings(
            idle_timeout_s=args.idle_timeout_s,
            max_frame_streams=args.max_frame_streams,
        ),
        kafka_batch_size=args.batch_size,
        inflight_dir=args.recovery_dir / "inflight" if args.recovery_dir is not None else None,
        process_id=args.process_id or 0,
        quarantine_after=args.quarantine_after,
    )
    recovery = None
    if args.recovery_dir is not None:
        try:
            directory = prepare_recovery_dir(
                args.recovery_dir, args.recovery_partitions, args.process_id
            )
        except (OSError, TimeoutError) as error:
            print(f"kinestream flow: recovery directory: {error}", file=sys.stderr)
            return 1
        recovery = RecoveryConfig(str(directory))  # type: ignore[no-untyped-call]
    addresses = args.addresses.split(";") if args.addresses else None
    flow = build_flow(settings)
    collect_rarely()
    cli_main(  # type: ignore[no-untyped-call]
        flow,
        workers_per_process=args.workers_per_process,
        process_id=args.process_id,
        addresses=addresses,
        epoch_interval=timedelta(seconds=args.snapshot_interval_s),
        recovery_config=recovery,
    )
    return 0


def frame_lag_bound(args: argparse.Namespace) -> float:
    """``--max-frame-lag-s``, else 0 for a backfill (``--stop-at-end``), else the default."""
    if args.max_frame_lag_s is not None:
        return float(args.max_frame_lag_s)
    return 0.0 if args.stop_at_end else DEFAULT_MAX_FRAME_LAG_S


def prepare_recovery_dir(
    root: Path, partitions: int, process_id: int | None, wait_s: float = 120.0
) -> Path:
    """The recovery partitions' directory under ``root``, created by process 0 on first use.

    The other processes of a cluster wait (up to ``wait_s``) until process 0 has made it.
    """
    from bytewax.recovery import init_db_dir

    if any(root.glob("part-*.sqlite3")):
        return root
    target = root / "partitions"
    if target.is_dir():
        return target
    if process_id in (None, 0):
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="partitions.", dir=root))
        init_db_dir(staging, partitions)  # type: ignore[no-untyped-call]
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(staging)  # another process 0 was first: use its partitions
        return target
    deadline = time.monotonic() + wait_s
    while not target.is_dir():
        if time.monotonic() > deadline:
            raise TimeoutError(f"process 0 did not create {target} within {wait_s:g} s")
        time.sleep(0.2)
    return target

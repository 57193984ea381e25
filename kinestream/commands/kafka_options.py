"""The command-line options every Kafka client command shares: brokers, topics, timeout."""

from __future__ import annotations

import argparse
import math
import os

from kinestream import wire

DEFAULT_BROKERS = "127.0.0.1:9092"


def add_kafka_options(
    parser: argparse.ArgumentParser, *, timeout_s: float, timeout_help: str
) -> None:
    """Add ``--brokers``, ``--topic-prefix`` and ``--timeout-s`` (default ``timeout_s``)."""
    parser.add_argument(
        "--brokers",
        default=os.environ.get("KINESTREAM_KAFKA") or DEFAULT_BROKERS,
        help=f"comma-separated Kafka brokers (default: $KINESTREAM_KAFKA or {DEFAULT_BROKERS})",
    )
    parser.add_argument(
        "--topic-prefix",
        default="",
        metavar="PREFIX",
        help="put PREFIX in front of every default topic name ($KINESTREAM_TOPIC_* override)",
    )
    parser.add_argument(
        "--timeout-s",
        type=positive_seconds,
        default=timeout_s,
        metavar="S",
        help=f"{timeout_help} (default {timeout_s:g})",
    )


def positive_seconds(text: str) -> float:
    """An argparse type: a finite, positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def topics_of(args: argparse.Namespace) -> wire.Topics:
    """The topic names the options (and ``KINESTREAM_TOPIC_*``) give."""
    return wire.Topics.from_env(prefix=args.topic_prefix)

"""``kinestream topics``: create the Kafka topics before the first start."""

from __future__ import annotations

import argparse
import os
import sys

from kinestream import wire
from kinestream.connectors.topics import DEFAULT_PARTITIONS, TopicError, ensure_topics


def add_topics_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``kinestream topics create``."""
    topics = sub.add_parser("topics", help="manage kinestream's Kafka topics")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    create = topics_sub.add_parser(
        "create",
        help="create the missing topics (existing ones are left as they are)",
        description=(
            "Create kinestream's topics that do not exist yet. Partitions bound the "
            "dataflow's parallelism and a running flow does not see partitions added "
            "later: choose enough for the workers you may run."
        ),
    )
    create.add_argument(
        "--brokers",
        default=os.environ.get("KINESTREAM_KAFKA") or "127.0.0.1:9092",
        help="comma-separated Kafka brokers (default: $KINESTREAM_KAFKA or 127.0.0.1:9092)",
    )
    create.add_argument("--topic-prefix", default="", help="put in front of every topic name")
    create.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help=f"partitions of each new topic (default {DEFAULT_PARTITIONS})",
    )
    create.add_argument("--replication-factor", type=int, default=1, help="(default 1)")
    create.add_argument(
        "--timeout-s", type=float, default=30.0, help="how long to wait for Kafka (default 30)"
    )
    create.set_defaults(handler=run_topics_create)


def run_topics_create(args: argparse.Namespace) -> int:
    """Create the missing topics and print each topic's state."""
    try:
        states = ensure_topics(
            args.brokers,
            wire.Topics.from_env(prefix=args.topic_prefix),
            partitions=args.partitions,
            replication_factor=args.replication_factor,
            timeout_s=args.timeout_s,
        )
    except ValueError as error:
        print(f"kinestream topics create: {error}", file=sys.stderr)
        return 2
    except TopicError as error:
        print(f"kinestream topics create: {error}", file=sys.stderr)
        return 1
    for state in states:
        print(f"{state.outcome:7}  {state.name}  ({state.partitions} partitions)")
    return 0

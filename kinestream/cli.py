"""The ``kinestream`` command: every subcommand of :mod:`kinestream.commands`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kinestream import __version__
from kinestream.commands import (
    analyze,
    api,
    db,
    flow,
    publish,
    record,
    replay,
    simulate,
    topics,
    webhooks,
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every ``kinestream`` subcommand."""
    parser = argparse.ArgumentParser(
        prog="kinestream",
        description="Real-time biomechanical analysis of athletes' jumps from side-view video.",
    )
    parser.add_argument("--version", action="version", version=f"kinestream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    analyze.add_analyze_command(sub)
    simulate.add_simulate_command(sub)
    publish.add_publish_command(sub)
    record.add_record_command(sub)
    replay.add_replay_command(sub)
    db.add_db_command(sub)
    topics.add_topics_command(sub)
    flow.add_flow_command(sub)
    api.add_api_command(sub)
    api.add_keys_command(sub)
    webhooks.add_webhooks_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kinestream`` command and return its exit status."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())

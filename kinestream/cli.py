"""The ``kinestream`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kinestream import __version__


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every ``kinestream`` subcommand."""
    parser = argparse.ArgumentParser(
        prog="kinestream",
        description="Real-time biomechanical analysis of athletes' jumps from side-view video.",
    )
    parser.add_argument("--version", action="version", version=f"kinestream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    del sub
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kinestream`` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())

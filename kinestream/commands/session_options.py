"""The options that describe a session: the movement, the athlete's and the box's height,
a treadmill's belt speed."""

from __future__ import annotations

import argparse

from kinestream.sports import Sport


def add_session_options(parser: argparse.ArgumentParser, *, from_recording: bool) -> None:
    """Add ``--sport``, ``--athlete-height``, ``--box-height`` and ``--belt-speed``.

    ``from_recording``: each defaults to the input recording's own value; otherwise the
    sport and the athlete's height are required.
    """
    default = " (default: the recording's)" if from_recording else ""
    parser.add_argument(
        "--sport",
        choices=[sport.value for sport in Sport],
        default=None,
        required=not from_recording,
        help=f"the movement{default}",
    )
    parser.add_argument(
        "--athlete-height",
        type=float,
        default=None,
        required=not from_recording,
        metavar="M",
        help=f"athlete's standing height in metres{default}",
    )
    parser.add_argument(
        "--box-height",
        type=float,
        default=None,
        metavar="M",
        help=f"drop jumps: box height in metres{default}",
    )
    parser.add_argument(
        "--belt-speed",
        type=float,
        default=None,
        metavar="M_S",
        help="running on a treadmill: belt speed in m/s (without it the speed is measured "
        "on video)",
    )

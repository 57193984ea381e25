"""How a command's failures become its exit status and message."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


class InputError(Exception):
    """Bad input or arguments: the command exits with status 2 and this message."""


class EstimatorError(Exception):
    """The pose estimator cannot run here: the command exits with status 1."""


def run_reporting(
    command: str, body: Callable[[argparse.Namespace], int], args: argparse.Namespace
) -> int:
    """Run ``body``; an :class:`InputError` is status 2, an :class:`EstimatorError` 1 and
    an interruption 130, each told on stderr after the command's name."""
    try:
        return body(args)
    except InputError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    except EstimatorError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130

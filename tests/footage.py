"""The real clips committed under examples/footage (see its README.md), for the tests."""

from __future__ import annotations

from pathlib import Path

FOOTAGE = Path(__file__).resolve().parents[1] / "examples" / "footage"
DEMO_CLIP = "sports2d_demo.mp4"


def footage(name: str) -> Path:
    """Path of a committed clip under examples/footage; a missing one is an error."""
    path = FOOTAGE / name
    if not path.is_file():
        raise FileNotFoundError(f"real footage {name} not found at {path}")
    return path

"""The real clips in ../shared/data (see its MANIFEST.md), for the tests that need them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DEMO_CLIP = "sports2d_demo.mp4"


def footage(name: str) -> Path:
    """Path of a clip in ../shared/data; skip without it, or fail under CI."""
    path = (SHARED_DATA / name).resolve()
    if path.is_file():
        return path
    message = f"real footage {name} not found at {path} (see ../shared/data/MANIFEST.md)"
    if os.environ.get("CI") or os.environ.get("KINESTREAM_REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)

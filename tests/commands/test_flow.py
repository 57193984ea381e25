"""``kinestream flow``'s recovery directory: made once, by process 0, seen whole by all; the
process it runs in collects garbage rarely."""

from __future__ import annotations

import argparse
import gc
import threading
import time
from pathlib import Path
from typing import Any

import bytewax.run
import pytest

from kinestream.commands.flow import add_flow_command, prepare_recovery_dir
from kinestream.flows.analysis import GC_THRESHOLDS


def test_process_0_makes_the_partitions_and_the_others_wait_for_them(tmp_path: Path) -> None:
    root = tmp_path / "recovery"
    seen: list[list[str]] = []

    def other_process() -> None:
        directory = prepare_recovery_dir(root, 3, process_id=1, wait_s=30)
        seen.append(sorted(p.name for p in directory.glob("part-*.sqlite3")))

    waiting = threading.Thread(target=other_process)
    waiting.start()
    time.sleep(0.5)  # process 1 starts first and must wait
    assert waiting.is_alive()
    made = prepare_recovery_dir(root, 3, process_id=0)
    waiting.join(10)
    assert made == root / "partitions"
    assert seen == [["part-0.sqlite3", "part-1.sqlite3", "part-2.sqlite3"]]
    # A restart finds them and makes nothing new.
    assert prepare_recovery_dir(root, 5, process_id=0) == made
    assert len(list(made.glob("part-*.sqlite3"))) == 3


def test_a_directory_made_by_hand_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "part-0.sqlite3").touch()
    assert prepare_recovery_dir(tmp_path, 2, process_id=1) == tmp_path


def test_a_process_waits_only_so_long(tmp_path: Path) -> None:
    with pytest.raises(TimeoutError, match="process 0 did not create"):
        prepare_recovery_dir(tmp_path / "r", 1, process_id=1, wait_s=0.3)


def test_the_flow_runs_with_its_startup_frozen_and_rare_collections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[Any, tuple[int, int, int], int]] = []
    monkeypatch.setattr(
        bytewax.run,
        "cli_main",
        lambda flow, **_: seen.append((flow, gc.get_threshold(), gc.get_freeze_count())),
    )
    monkeypatch.delenv("KINESTREAM_DATABASE_URL", raising=False)
    parser = argparse.ArgumentParser()
    add_flow_command(parser.add_subparsers())
    args = parser.parse_args(["flow", "--no-frames", "--brokers", "127.0.0.1:1"])
    thresholds = gc.get_threshold()
    try:
        assert args.handler(args) == 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    [(flow, during, frozen)] = seen
    assert flow.flow_id == "kinestream_analysis"
    assert during == GC_THRESHOLDS
    assert frozen > 0

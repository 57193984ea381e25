"""``kinestream flow``'s recovery directory: made once, by process 0, seen whole by all."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kinestream.commands.flow import prepare_recovery_dir


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

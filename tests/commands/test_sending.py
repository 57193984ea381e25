"""What the send report says of failed frames: their sequence numbers as ranges."""

from __future__ import annotations

from kinestream.commands.sending import SHOWN_RANGES, seq_ranges


def test_consecutive_seqs_become_ranges() -> None:
    assert seq_ranges([9, 5, 6, 7, 12, 13]) == "5-7, 9, 12-13"
    assert seq_ranges([4]) == "4"


def test_only_the_first_ranges_are_shown() -> None:
    text = seq_ranges(list(range(0, 4 * SHOWN_RANGES, 2)))
    assert text.count(",") == SHOWN_RANGES
    assert text.endswith(", ...")

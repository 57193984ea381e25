"""A stream's snapshot is bytes that resume it exactly: the same events and positions as a
stream that was never interrupted, from the bytes or from recovery data that stored the
state object itself."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from kinestream import wire
from kinestream.flows import snapshots
from kinestream.flows.analysis import default_analyzer_factory
from kinestream.flows.stream_logic import StoredState, StreamSettings, stream_logic_builder
from kinestream.operators.anthropometry import BodyMeasurement, MeasuredSample
from kinestream.session import SessionEvent
from kinestream.simulation.scenarios import countermovement_jumps
from kinestream.sports import Sport


def _run(items: list[Any], resume_after: int | None, stored: Any) -> list[SessionEvent]:
    """Feed ``items`` to a stream's logic; after ``resume_after`` of them, go on with a
    logic rebuilt from ``stored(snapshot)``."""
    build = stream_logic_builder(default_analyzer_factory, StreamSettings())
    logic = build(None)
    out: list[SessionEvent] = []
    for i, item in enumerate(items):
        if i == resume_after:
            snapshot: StoredState = pickle.loads(pickle.dumps(logic.snapshot()))
            logic = build(stored(snapshot))
        out.extend(logic.on_item(("s", item))[0])
    return out


def test_a_stream_resumed_from_its_snapshot_emits_what_it_would_have() -> None:
    trial = countermovement_jumps(reps=2, seed=3)
    items: list[Any] = [wire.StartMessage("s", Sport.CMJ, 1.8), *trial.samples]
    items.append(wire.EndMessage("s", trial.samples[-1].seq))
    straight = _run(items, None, None)
    assert sum(o.event is not None and o.event.event_type == "rep_complete" for o in straight) == 2
    middle = len(items) // 2
    from_bytes = _run(items, middle, lambda b: b)
    from_object = _run(items, middle, snapshots.loads)  # recovery data of the state itself
    for resumed in (from_bytes, from_object):
        assert [o.event for o in resumed] == [o.event for o in straight]


@dataclass(frozen=True, slots=True)
class _Counted:
    value: int

    def __getstate__(self) -> dict[str, int]:
        return {"value": self.value + 1}

    def __setstate__(self, state: dict[str, int]) -> None:
        object.__setattr__(self, "value", state["value"])


def test_slot_dataclasses_round_trip_and_their_own_pickling_is_kept() -> None:
    body = BodyMeasurement(1.0, 2.0, 3.0, float("nan"), 5.0, 0.9, 3.0)
    sample = MeasuredSample(7, 1.5, 640, 480, None, None, body)
    state = {"sample": sample, "counted": _Counted(1), "shared": (body, body)}
    back = snapshots.loads(snapshots.dumps(state))
    assert back["sample"].body.com_y_px == 2.0
    assert repr(back["sample"]) == repr(sample)
    assert back["shared"][0] is back["shared"][1]
    assert back["counted"] == _Counted(2)  # its own __getstate__ was used
    # A snapshot from before the class had its last field: that field's default.
    older = snapshots.restore_slots(MeasuredSample, (7, 1.5, 640, 480, None, None, body))
    assert older.width_ratio is None


class _Gone:
    """A class a snapshot refers to that this version no longer has as it was."""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_refuse, ())


def _refuse() -> None:
    raise TypeError("FootFrame() takes no arguments")


def test_a_stream_whose_snapshot_cannot_be_read_ends_with_one_error_and_the_rest_go_on() -> None:
    trial = countermovement_jumps(reps=1, seed=3)
    items: list[Any] = [wire.StartMessage("s", Sport.CMJ, 1.8), *trial.samples]
    build = stream_logic_builder(default_analyzer_factory, StreamSettings())
    unreadable = snapshots.dumps({"stream": _Gone()})
    broken = build(unreadable)
    out = [o.event for item in items for o in broken.on_item(("s", item))[0]]
    events = [e for e in out if e is not None]
    assert [(e.event_type, e.payload["code"]) for e in events] == [("error", "state_not_restored")]
    assert "FootFrame() takes no arguments" in events[0].payload["message"]
    assert broken.on_notify()[1]  # its state then goes at the idle timeout (DISCARD)
    other = build(pickle.loads(pickle.dumps(build(None).snapshot())))
    assert any(
        o.event is not None and o.event.event_type == "phase_change"
        for item in items
        for o in other.on_item(("t", item))[0]
    )

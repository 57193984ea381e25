"""The crash-loop guard: which message each worker is analysing, where a restart finds it.

Everything a producer sends is checked at the edge (:mod:`kinestream.wire`) and any
exception in one stream's analysis becomes that stream's ``error`` event, so no message
should make a worker die. If one still does (a native crash in OpenCV or MediaPipe, the
kernel's out-of-memory killer), a resume from the last snapshot would read it again and
die again, for ever. So:

- before the per-stream step handles an item, its worker writes the item's identity
  (stream id, kind, sequence number) to its own small file under
  ``RECOVERY_DIR/inflight``, and marks the file idle again afterwards. The file is memory
  mapped: a write costs a fraction of a microsecond and outlives the process however it
  dies (SIGKILL included), though not the machine;
- on start, before any worker runs, every process reads every file. A file still marked
  busy names the item its worker died on. The number of deaths on an item is kept in the
  file too: a worker that takes up an item some worker died on records that it is a retry;
- an item that made workers die ``quarantine_after`` times (:data:`DEFAULT_QUARANTINE_AFTER`)
  is quarantined: its message is set aside on the ``deadletter`` topic with its topic,
  partition, offset and why (reason ``worker_died``), and its stream gets an ``error`` event
  (code ``quarantined``) instead. The first death on an item is retried, not quarantined:
  a ``kill -9`` or an out-of-memory kill from outside may land on any message, and must not
  cost one.

Processes of a cluster read the files before they connect to each other, and no file is
written before every process is connected, so all of them see the same deaths.

A test-only hook makes a worker die on a chosen item, as a native crash would:
``KINESTREAM_TEST_CRASH_ON=<stream id>:<seq>`` kills the process (SIGKILL) when the
per-stream step takes up that pose or frame. It is honoured only where the variable is set,
and is meant for tests of this guard.
"""

from __future__ import annotations

import itertools
import mmap
import os
import signal
import struct
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from kinestream.operators.pose import PoseSample
from kinestream.wire import MAX_STREAM_ID_BYTES, EndMessage, Frame, StartMessage

DEFAULT_QUARANTINE_AFTER: Final = 2
"""Deaths on one item before it is quarantined (the first one is retried)."""

KIND_POSE: Final = 1
KIND_FRAME: Final = 2
KIND_START: Final = 3
KIND_END: Final = 4
KIND_OTHER: Final = 5

Identity = tuple[str, int, int]
"""An item as the guard knows it: stream id, kind, sequence number (or -1)."""

TEST_CRASH_VARIABLE: Final = "KINESTREAM_TEST_CRASH_ON"

# A marker file: state (0 idle, 1 busy), kind, deaths before this attempt, stream id length,
# sequence number, then the stream id.
_LAYOUT = struct.Struct("<BBHHxxq")
_FILE_BYTES: Final = _LAYOUT.size + MAX_STREAM_ID_BYTES
_BUSY: Final = 1


def identity_of(stream_id: str, item: object) -> Identity:
    """The identity of one item of the per-stream step."""
    if isinstance(item, PoseSample):
        return (stream_id, KIND_POSE, item.seq)
    if isinstance(item, Frame):
        return (stream_id, KIND_FRAME, item.seq)
    if isinstance(item, StartMessage):
        return (stream_id, KIND_START, -1)
    if isinstance(item, EndMessage):
        return (stream_id, KIND_END, -1 if item.last_seq is None else item.last_seq)
    return (stream_id, KIND_OTHER, -1)


class _Marker:
    """One worker's marker file, memory mapped."""

    def __init__(self, path: Path) -> None:
        with path.open("wb") as out:
            out.write(bytes(_FILE_BYTES))
        with path.open("r+b") as file:
            self.map = mmap.mmap(file.fileno(), _FILE_BYTES)
        self.stream_id = ""
        self.length = 0

    def begin(self, identity: Identity, deaths: int) -> None:
        stream_id, kind, seq = identity
        if stream_id != self.stream_id:
            raw = stream_id.encode()[:MAX_STREAM_ID_BYTES]
            self.map[_LAYOUT.size : _LAYOUT.size + len(raw)] = raw
            self.stream_id = stream_id
            self.length = len(raw)
        _LAYOUT.pack_into(self.map, 0, _BUSY, kind, min(deaths, 0xFFFF), self.length, seq)

    def end(self) -> None:
        self.map[0] = 0


def read_deaths(directory: Path) -> dict[Identity, int]:
    """The items workers died on, from the marker files in ``directory``, with how many
    times workers died on each."""
    deaths: dict[Identity, int] = {}
    for path in sorted(directory.glob("*.marker")):
        raw = path.read_bytes()
        if len(raw) < _LAYOUT.size:
            continue
        state, kind, before, length, seq = _LAYOUT.unpack_from(raw)
        if state != _BUSY or length > MAX_STREAM_ID_BYTES:
            continue
        stream_id = raw[_LAYOUT.size : _LAYOUT.size + length].decode(errors="replace")
        identity = (stream_id, kind, seq)
        deaths[identity] = max(deaths.get(identity, 0), before + 1)
    return deaths


class InflightLog:
    """Each worker's item in progress, in ``directory``; and what the last starts died on.

    Build it before the dataflow runs (it reads the markers left by the last run then).
    Worker threads each get their own marker file, ``p<process>-w<n>.marker``.
    """

    def __init__(
        self,
        directory: Path,
        process_id: int = 0,
        quarantine_after: int = DEFAULT_QUARANTINE_AFTER,
    ) -> None:
        if quarantine_after < 1:
            raise ValueError("quarantine_after must be at least 1")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.process_id = process_id
        self.deaths = read_deaths(directory)
        """Items workers died on in earlier runs, and how many times."""
        self.quarantined = {i: n for i, n in self.deaths.items() if n >= quarantine_after}
        """The items to skip: ``quarantine_after`` deaths or more."""
        self._local = threading.local()
        self._slots = itertools.count()
        self._lock = threading.Lock()

    def begin(self, identity: Identity) -> None:
        """This worker takes up ``identity``."""
        marker: _Marker | None = getattr(self._local, "marker", None)
        if marker is None:
            marker = self._local.marker = self._new_marker()
        marker.begin(identity, self.deaths.get(identity, 0) if self.deaths else 0)

    def end(self) -> None:
        """This worker is done with its item."""
        marker: _Marker | None = getattr(self._local, "marker", None)
        if marker is not None:
            marker.end()

    def _new_marker(self) -> _Marker:
        with self._lock:
            slot = next(self._slots)
        return _Marker(self.directory / f"p{self.process_id}-w{slot}.marker")


def crash_hook_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, int] | None:
    """The (stream id, seq) of ``KINESTREAM_TEST_CRASH_ON``, or ``None`` (the usual case)."""
    value = (os.environ if environ is None else environ).get(TEST_CRASH_VARIABLE, "")
    if not value:
        return None
    stream_id, _, seq = value.rpartition(":")
    if not stream_id or not seq.lstrip("-").isdigit():
        raise ValueError(f"{TEST_CRASH_VARIABLE} must be <stream id>:<seq>, got {value!r}")
    return stream_id, int(seq)


def die_like_a_native_crash() -> None:
    """Kill this process at once, as a segmentation fault or the OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)

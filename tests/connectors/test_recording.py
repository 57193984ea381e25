"""Recordings: the documented Arrow schema round-trips pose streams; bad files are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from kinestream.connectors.recording import (
    RecordingError,
    RecordingParams,
    RecordingWriter,
    read_recording,
    recording_schema,
)
from kinestream.operators.pose import PoseSample
from kinestream.sports import Sport

PARAMS = RecordingParams("rec-1", Sport.DROP_JUMP, 1.74, 0.3, 120.0)


def samples(n: int, seed: int = 0) -> list[PoseSample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        landmarks = world = None
        if i % 7 != 3:  # every seventh frame has no person
            landmarks = rng.uniform(0, 1, (33, 4))
            if i % 2 == 0:
                world = rng.normal(0, 0.5, (33, 3))
        out.append(PoseSample(i * 2, i / 120.0, 1920, 1080, landmarks, world))
    return out


def assert_same(got: PoseSample, want: PoseSample) -> None:
    assert (got.seq, got.timestamp_s) == (want.seq, want.timestamp_s)
    assert (got.image_width, got.image_height) == (want.image_width, want.image_height)
    for a, b in ((got.landmarks, want.landmarks), (got.world, want.world)):
        if b is None:
            assert a is None
        else:
            assert a is not None
            # Stored as float32: within float32 rounding of the original values.
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("compression", ["zstd", "lz4", None])
def test_round_trip_across_batches(tmp_path: Path, compression: str | None) -> None:
    original = samples(23)
    path = tmp_path / "r.arrow"
    with RecordingWriter(path, PARAMS, batch_size=5, compression=compression) as writer:
        for sample in original:
            writer.write(sample)
    assert writer.batches_written == 5
    recording = read_recording(path)
    assert recording.params == PARAMS
    assert recording.frame_count == 23
    assert not recording.has_jpeg
    for _ in range(2):  # a recording can be iterated more than once
        got = list(recording)
        assert len(got) == len(original)
        for a, b in zip(got, original, strict=True):
            assert_same(a, b)


def test_jpeg_column_is_optional_per_row(tmp_path: Path) -> None:
    path = tmp_path / "j.arrow"
    original = samples(4)
    with RecordingWriter(path, PARAMS, jpeg=True) as writer:
        for i, sample in enumerate(original):
            writer.write(sample, b"\xff\xd8jpeg" + bytes([i]) if i != 2 else None)
    recording = read_recording(path)
    assert recording.has_jpeg
    jpegs = [frame.jpeg for frame in recording.frames()]
    assert jpegs == [b"\xff\xd8jpeg\x00", b"\xff\xd8jpeg\x01", None, b"\xff\xd8jpeg\x03"]


def test_writer_without_jpeg_column_refuses_a_jpeg(tmp_path: Path) -> None:
    with (
        RecordingWriter(tmp_path / "x.arrow", PARAMS) as writer,
        pytest.raises(ValueError, match="no jpeg column"),
    ):
        writer.write(samples(1)[0], b"\xff\xd8")


def test_stream_format_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "s.arrows"
    with RecordingWriter(tmp_path / "f.arrow", PARAMS) as writer:
        for sample in samples(9):
            writer.write(sample)
    table = ipc.open_file(str(tmp_path / "f.arrow")).read_all()
    with ipc.new_stream(str(path), table.schema) as stream:
        stream.write_table(table)
    recording = read_recording(path)
    assert recording.frame_count is None  # a stream does not say its length up front
    assert [s.seq for s in recording] == [s.seq for s in samples(9)]


def test_missing_and_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_recording(tmp_path / "nope.arrow")
    text = tmp_path / "text.arrow"
    text.write_text("not arrow")
    with pytest.raises(RecordingError, match="not an Arrow IPC file"):
        read_recording(text)
    foreign = tmp_path / "foreign.arrow"
    with ipc.new_file(str(foreign), pa.schema([("a", pa.int64())])) as writer:
        writer.write_table(pa.table({"a": [1, 2]}))
    with pytest.raises(RecordingError, match="not a kinestream recording"):
        read_recording(foreign)


def test_unsupported_version_and_wrong_columns_are_refused(tmp_path: Path) -> None:
    schema = recording_schema(PARAMS)
    future = schema.with_metadata({**schema.metadata, b"kinestream.recording.version": b"99"})
    path = tmp_path / "v99.arrow"
    with ipc.new_file(str(path), future):
        pass
    with pytest.raises(RecordingError, match="version 99 is not supported"):
        read_recording(path)
    bad = pa.schema([("seq", pa.int64())], metadata=schema.metadata)
    path = tmp_path / "cols.arrow"
    with ipc.new_file(str(path), bad):
        pass
    with pytest.raises(RecordingError, match="do not match"):
        read_recording(path)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.arrow"
    with RecordingWriter(path, PARAMS) as writer:
        for sample in samples(300):
            writer.write(sample)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError):
        list(read_recording(path))


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="stream id"):
        RecordingParams("")
    with pytest.raises(ValueError, match="fps"):
        RecordingParams("s", fps=float("nan"))
    sparse = RecordingParams("only-id")
    assert RecordingParams.from_metadata(sparse.to_metadata()) == sparse

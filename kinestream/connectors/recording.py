"""Recorded pose streams, as Apache Arrow IPC files.

A recording holds one stream's pose samples in capture order, with the parameters its
analysis starts from, so that a session can be analysed again without the camera, the
pose estimator, Kafka or the database (``kinestream analyze``). It is written one record
batch at a time (:class:`RecordingWriter`) and read back one batch at a time
(:func:`read_recording`), so memory stays constant however long the stream.

Schema (version :data:`RECORDING_SCHEMA_VERSION`), one row per frame:

=============  ==================================  ============================================
column         type                                meaning
=============  ==================================  ============================================
seq            int64, not null                     frame sequence number
timestamp_s    float64, not null                   capture time, seconds
image_width    int32, not null                     image width, pixels
image_height   int32, not null                     image height, pixels
landmarks      fixed_size_list<float32>[132]       33 x (x, y, z, visibility), row-major, as
                                                   in ``PoseSample.landmarks``; null when no
                                                   person was found
world          fixed_size_list<float32>[99]        33 x (x, y, z) metric world landmarks;
                                                   null when the estimator gave none
jpeg           binary (optional column)            the frame as JPEG; null where not kept
=============  ==================================  ============================================

Schema metadata (UTF-8 strings; every key but the version and stream id may be absent when
unknown): ``kinestream.recording.version`` (the schema version), ``kinestream.stream_id``,
``kinestream.sport`` (a :class:`~kinestream.sports.Sport` value),
``kinestream.athlete_height_m``, ``kinestream.box_height_m``, ``kinestream.fps`` (nominal
frame rate), ``kinestream.belt_speed_m_s`` (a treadmill run's belt speed). Numbers are
written with :func:`repr` and read with :func:`float`.

The file is an Arrow IPC *file* (``ARROW1`` magic, footer), buffers compressed with zstd by
default; any Arrow implementation reads it. The reader also accepts the Arrow IPC *stream*
format with the same schema. Landmarks are stored as float32, the precision of the pose
wire format (:mod:`kinestream.wire`); that format's per-message binary layout is not reused
here because a columnar file keeps each field a typed column that other tools can read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from kinestream.operators.pose import NUM_LANDMARKS, PoseSample
from kinestream.sports import Sport

RECORDING_SCHEMA_VERSION: Final = 1
DEFAULT_BATCH_SIZE: Final = 256

KEY_VERSION: Final = "kinestream.recording.version"
KEY_STREAM_ID: Final = "kinestream.stream_id"
KEY_SPORT: Final = "kinestream.sport"
KEY_ATHLETE_HEIGHT: Final = "kinestream.athlete_height_m"
KEY_BOX_HEIGHT: Final = "kinestream.box_height_m"
KEY_FPS: Final = "kinestream.fps"
KEY_BELT_SPEED: Final = "kinestream.belt_speed_m_s"

_LANDMARK_VALUES: Final = NUM_LANDMARKS * 4
_WORLD_VALUES: Final = NUM_LANDMARKS * 3
_LANDMARKS_TYPE: Final = pa.list_(pa.float32(), _LANDMARK_VALUES)
_WORLD_TYPE: Final = pa.list_(pa.float32(), _WORLD_VALUES)
_FIELDS: Final = (
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("timestamp_s", pa.float64(), nullable=False),
    pa.field("image_width", pa.int32(), nullable=False),
    pa.field("image_height", pa.int32(), nullable=False),
    pa.field("landmarks", _LANDMARKS_TYPE),
    pa.field("world", _WORLD_TYPE),
)
_JPEG_FIELD: Final = pa.field("jpeg", pa.binary())


class RecordingError(ValueError):
    """A file that is not a kinestream recording this version can read."""


@dataclass(frozen=True, slots=True)
class RecordingParams:
    """What a recorded stream's analysis starts from (``None`` where not known)."""

    stream_id: str
    sport: Sport | None = None
    athlete_height_m: float | None = None
    box_height_m: float | None = None
    fps: float | None = None
    belt_speed_m_s: float | None = None

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise ValueError("stream id must not be empty")
        for name in ("athlete_height_m", "box_height_m", "fps", "belt_speed_m_s"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and not negative, got {value!r}")

    def to_metadata(self) -> dict[bytes, bytes]:
        """The schema metadata that stores these parameters."""
        out = {KEY_VERSION: str(RECORDING_SCHEMA_VERSION), KEY_STREAM_ID: self.stream_id}
        if self.sport is not None:
            out[KEY_SPORT] = self.sport.value
        for key, value in (
            (KEY_ATHLETE_HEIGHT, self.athlete_height_m),
            (KEY_BOX_HEIGHT, self.box_height_m),
            (KEY_FPS, self.fps),
            (KEY_BELT_SPEED, self.belt_speed_m_s),
        ):
            if value is not None:
                out[key] = repr(float(value))
        return {k.encode(): v.encode() for k, v in out.items()}

    @classmethod
    def from_metadata(cls, metadata: Mapping[bytes, bytes] | None) -> RecordingParams:
        """Read the parameters back; raise :class:`RecordingError` on a bad or foreign file."""
        meta = {
            k.decode(errors="replace"): v.decode(errors="replace")
            for k, v in (metadata or {}).items()
        }
        if KEY_VERSION not in meta:
            raise RecordingError(
                f"not a kinestream recording: the schema metadata has no {KEY_VERSION!r}"
            )
        try:
            version = int(meta[KEY_VERSION])
        except ValueError as exc:
            raise RecordingError(f"bad recording version {meta[KEY_VERSION]!r}") from exc
        if version != RECORDING_SCHEMA_VERSION:
            raise RecordingError(
                f"recording schema version {version} is not supported "
                f"(this kinestream reads version {RECORDING_SCHEMA_VERSION})"
            )
        sport: Sport | None = None
        if KEY_SPORT in meta:
            try:
                sport = Sport(meta[KEY_SPORT])
            except ValueError as exc:
                raise RecordingError(f"recording names unknown sport {meta[KEY_SPORT]!r}") from exc

        def number(key: str) -> float | None:
            if key not in meta:
                return None
            try:
                return float(meta[key])
            except ValueError as exc:
                raise RecordingError(f"recording metadata {key!r} is not a number") from exc

        try:
            return cls(
                stream_id=meta.get(KEY_STREAM_ID, ""),
                sport=sport,
                athlete_height_m=number(KEY_ATHLETE_HEIGHT),
                box_height_m=number(KEY_BOX_HEIGHT),
                fps=number(KEY_FPS),
                belt_speed_m_s=number(KEY_BELT_SPEED),
            )
        except ValueError as exc:
            raise RecordingError(f"bad recording metadata: {exc}") from exc


def recording_schema(params: RecordingParams, *, jpeg: bool = False) -> pa.Schema:
    """The Arrow schema of a recording with ``params`` (with the jpeg column or not)."""
    fields = [*_FIELDS, _JPEG_FIELD] if jpeg else list(_FIELDS)
    return pa.schema(fields, metadata=params.to_metadata())


class RecordedFrame(NamedTuple):
    """One row of a recording: the pose sample and the frame's JPEG when kept."""

    sample: PoseSample
    jpeg: bytes | None


class RecordingWriter:
    """Writes one stream's pose samples to a recording, ``batch_size`` rows at a time.

    Use it as a context manager (or call :meth:`close`): the last, partial batch and the
    file's footer are written on close. A file left unclosed by a crash is not readable.
    ``compression`` is an Arrow IPC codec (``"zstd"``, ``"lz4"``) or ``None``.
    """

    def __init__(
        self,
        path: str | Path,
        params: RecordingParams,
        *,
        jpeg: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        compression: str | None = "zstd",
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch size must be at least 1")
        self.path = Path(path)
        self.params = params
        self.schema = recording_schema(params, jpeg=jpeg)
        self.batch_size = batch_size
        self.rows_written = 0
        self.batches_written = 0
        self._jpeg = jpeg
        self._seq = np.zeros(batch_size, dtype=np.int64)
        self._time = np.zeros(batch_size, dtype=np.float64)
        self._size = np.zeros((batch_size, 2), dtype=np.int32)
        self._landmarks = np.zeros((batch_size, _LANDMARK_VALUES), dtype=np.float32)
        self._world = np.zeros((batch_size, _WORLD_VALUES), dtype=np.float32)
        self._has_landmarks = np.zeros(batch_size, dtype=bool)
        self._has_world = np.zeros(batch_size, dtype=bool)
        self._jpegs: list[bytes | None] = []
        self._rows = 0
        options = ipc.IpcWriteOptions(compression=compression)
        self._sink: Any = pa.OSFile(str(self.path), "wb")
        try:
            self._writer: Any = ipc.new_file(self._sink, self.schema, options=options)
        except BaseException:
            self._sink.close()
            raise

    def write(self, sample: PoseSample, jpeg: bytes | None = None) -> None:
        """Append one sample (and its JPEG, when the recording keeps them)."""
        if self._writer is None:
            raise RuntimeError("this RecordingWriter is closed")
        if jpeg is not None and not self._jpeg:
            raise ValueError("this recording has no jpeg column (open it with jpeg=True)")
        row = self._rows
        self._seq[row] = sample.seq
        self._time[row] = sample.timestamp_s
        self._size[row] = (sample.image_width, sample.image_height)
        self._has_landmarks[row] = sample.landmarks is not None
        if sample.landmarks is not None:
            self._landmarks[row] = sample.landmarks.reshape(-1)
        else:
            self._landmarks[row] = 0.0
        self._has_world[row] = sample.world is not None
        if sample.world is not None:
            self._world[row] = sample.world.reshape(-1)
        else:
            self._world[row] = 0.0
        if self._jpeg:
            self._jpegs.append(jpeg)
        self._rows += 1
        if self._rows == self.batch_size:
            self._flush()

    def _flush(self) -> None:
        n = self._rows
        if n == 0:
            return
        columns = [
            pa.array(self._seq[:n], type=pa.int64()),
            pa.array(self._time[:n], type=pa.float64()),
            pa.array(self._size[:n, 0], type=pa.int32()),
            pa.array(self._size[:n, 1], type=pa.int32()),
            _fixed_lists(self._landmarks[:n], self._has_landmarks[:n], _LANDMARKS_TYPE),
            _fixed_lists(self._world[:n], self._has_world[:n], _WORLD_TYPE),
        ]
        if self._jpeg:
            columns.append(pa.array(self._jpegs, type=pa.binary()))
        self._writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=self.schema))
        self.rows_written += n
        self.batches_written += 1
        self._rows = 0
        self._jpegs = []

    def close(self) -> None:
        """Write the pending rows and the footer; closing twice is harmless."""
        if self._writer is None:
            return
        try:
            self._flush()
            self._writer.close()
        finally:
            self._writer = None
            self._sink.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _fixed_lists(
    values: np.ndarray[Any, Any], valid: np.ndarray[Any, Any], kind: pa.DataType
) -> Any:
    """A fixed-size-list array of float32 rows, null where ``valid`` is false."""
    child = pa.array(values.reshape(-1), type=pa.float32())
    validity = None if valid.all() else pa.array(valid, type=pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(kind, len(valid), [validity], children=[child])


@dataclass(frozen=True, slots=True)
class Recording:
    """A recording on disk: its parameters, size, and its rows read one batch at a time.

    Iterating yields :class:`PoseSample` values; :meth:`frames` also yields the JPEGs.
    Each iteration reads the file again from the start, so a recording can be iterated
    more than once.
    """

    path: Path
    params: RecordingParams
    frame_count: int | None
    has_jpeg: bool
    schema_version: int = RECORDING_SCHEMA_VERSION

    def __iter__(self) -> Iterator[PoseSample]:
        return (frame.sample for frame in self.frames())

    def frames(self) -> Iterator[RecordedFrame]:
        """Yield every row, one batch in memory at a time."""
        for batch in self.batches():
            yield from _batch_frames(batch)

    def batches(self) -> Iterator[Any]:
        """Yield the file's Arrow record batches."""
        with _open(self.path) as (reader, is_file):
            if is_file:
                for index in range(reader.num_record_batches):
                    yield _batch(reader, index, self.path)
            else:
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        return
                    except (pa.ArrowException, OSError) as exc:
                        raise RecordingError(f"{self.path}: unreadable batch: {exc}") from exc
                    yield batch


def read_recording(path: str | Path) -> Recording:
    """Open a recording: check its schema and version, read its parameters and size.

    Raises :class:`FileNotFoundError` when there is no such file and
    :class:`RecordingError` when it is not a recording this version reads.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such recording: {path}")
    with _open(path) as (reader, is_file):
        schema = reader.schema
        params = RecordingParams.from_metadata(schema.metadata)
        has_jpeg = _check_schema(schema, path)
        frame_count = None
        if is_file:
            frame_count = sum(
                _batch(reader, i, path).num_rows for i in range(reader.num_record_batches)
            )
    return Recording(path, params, frame_count, has_jpeg)


@contextmanager
def _open(path: Path) -> Iterator[tuple[Any, bool]]:
    """The IPC file (or stream) reader of ``path`` and whether it is the file format."""
    try:
        source = pa.memory_map(str(path), "r")
    except (pa.ArrowException, OSError) as exc:
        raise RecordingError(f"cannot open recording {path}: {exc}") from exc
    with source:
        try:
            reader, is_file = ipc.open_file(source), True
        except (pa.ArrowException, OSError):
            try:
                source.seek(0)
                reader, is_file = ipc.open_stream(source), False
            except (pa.ArrowException, OSError) as exc:
                raise RecordingError(
                    f"{path} is not an Arrow IPC file (a kinestream recording), or it is "
                    "truncated: a recording is complete only once its writer was closed"
                ) from exc
        yield reader, is_file


def _batch(reader: Any, index: int, path: Path) -> Any:
    try:
        return reader.get_batch(index)
    except (pa.ArrowException, OSError) as exc:
        raise RecordingError(f"{path}: unreadable batch {index}: {exc}") from exc


def _check_schema(schema: pa.Schema, path: Path) -> bool:
    """Check the columns against the documented schema; return whether jpeg is there."""
    names = schema.names
    expected = [f.name for f in _FIELDS]
    if names not in (expected, [*expected, _JPEG_FIELD.name]):
        raise RecordingError(
            f"{path}: columns {names} do not match a version-{RECORDING_SCHEMA_VERSION} "
            f"recording ({', '.join(expected)}, optional jpeg)"
        )
    for field in _FIELDS:
        if not schema.field(field.name).type.equals(field.type):
            raise RecordingError(
                f"{path}: column {field.name!r} has type {schema.field(field.name).type}, "
                f"expected {field.type}"
            )
    has_jpeg = len(names) == len(expected) + 1
    if has_jpeg and not schema.field("jpeg").type.equals(_JPEG_FIELD.type):
        raise RecordingError(f"{path}: column 'jpeg' must be binary")
    return has_jpeg


def _list_rows(
    column: Any, width: int, rows: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The values of a fixed-size-list column as float64 (rows, width) and its validity."""
    flat = column.values.to_numpy(zero_copy_only=False)
    start = column.offset * width
    values = np.asarray(flat[start : start + rows * width], dtype=np.float64).reshape(rows, width)
    if column.null_count == 0:
        valid = np.ones(rows, dtype=bool)
    else:
        valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return values, valid


def _batch_frames(batch: Any) -> Iterator[RecordedFrame]:
    rows = batch.num_rows
    seq = batch.column(0).to_numpy(zero_copy_only=False)
    times = batch.column(1).to_numpy(zero_copy_only=False)
    widths = batch.column(2).to_numpy(zero_copy_only=False)
    heights = batch.column(3).to_numpy(zero_copy_only=False)
    landmarks, has_landmarks = _list_rows(batch.column(4), _LANDMARK_VALUES, rows)
    world, has_world = _list_rows(batch.column(5), _WORLD_VALUES, rows)
    jpegs = batch.column(6).to_pylist() if batch.num_columns > 6 else [None] * rows
    for i in range(rows):
        try:
            sample = PoseSample(
                seq=int(seq[i]),
                timestamp_s=float(times[i]),
                image_width=int(widths[i]),
                image_height=int(heights[i]),
                landmarks=landmarks[i].reshape(NUM_LANDMARKS, 4).copy()
                if has_landmarks[i]
                else None,
                world=world[i].reshape(NUM_LANDMARKS, 3).copy() if has_world[i] else None,
            )
        except ValueError as exc:
            raise RecordingError(f"invalid pose sample at seq {int(seq[i])}: {exc}") from exc
        yield RecordedFrame(sample, jpegs[i])


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "RECORDING_SCHEMA_VERSION",
    "RecordedFrame",
    "Recording",
    "RecordingError",
    "RecordingParams",
    "RecordingWriter",
    "read_recording",
    "recording_schema",
]

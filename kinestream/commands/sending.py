"""Sending one stream to Kafka from the command line (``publish`` and ``replay``).

:func:`send_stream` sends the start message and waits for the broker to acknowledge it
(so a broker that is away is noticed before the source is read), then the frames or pose
packets, each held back by a :class:`~kinestream.commands.pacing.Pacer`, then the end message with
the last frame's sequence number. It stops at the first failed delivery: the stream then
has no end message, and the dataflow closes it after its idle timeout.
:func:`report_outcome` tells the user what the broker took and returns the exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from kinestream import wire
from kinestream.commands.pacing import Pacer
from kinestream.commands.progress import ProgressBar
from kinestream.connectors.stream_publisher import PublishError, StreamPublisher
from kinestream.operators.pose import PoseSample

SHOWN_RANGES: Final = 8

Outgoing = tuple[float, wire.Frame | PoseSample]
"""A message to send and the capture time it is paced by (the source's own clock)."""

Reason = Literal["sent", "start_failed", "failed", "interrupted"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How sending a stream ended."""

    stream_id: str
    reason: Reason
    first_seq: int | None = None
    last_seq: int | None = None
    error: str | None = None
    """Why sending stopped, when it was not a delivery failure (the queue stayed full)."""


def send_stream(
    publisher: StreamPublisher,
    start: wire.StartMessage,
    messages: Iterable[Outgoing],
    *,
    pacer: Pacer,
    fps: float,
    progress: ProgressBar,
) -> Outcome:
    """Send ``start``, the ``messages`` and the end message; see the module docstring.

    ``fps`` is the nominal frame rate pose packets carry. The publisher is not closed.
    """
    stream_id = start.stream_id
    publisher.send_control(start)
    publisher.flush()
    if "start" not in publisher.deliveries.control_delivered:
        return Outcome(stream_id, "start_failed")
    first: int | None = None
    last: int | None = None
    reason: Reason = "sent"
    try:
        for pace_time_s, message in messages:
            pacer.wait(pace_time_s)
            if isinstance(message, wire.Frame):
                publisher.send_frame(message)
            else:
                publisher.send_pose(stream_id, message, fps)
            first = message.seq if first is None else first
            last = message.seq
            progress.advance()
            if publisher.deliveries.failed:
                return Outcome(stream_id, "failed", first, last)
    except KeyboardInterrupt:
        reason = "interrupted"
    except PublishError as exc:
        return Outcome(stream_id, "failed", first, last, str(exc))
    finally:
        progress.close()
    publisher.send_control(wire.EndMessage(stream_id, last))
    publisher.flush()
    if publisher.deliveries.failed:
        return Outcome(stream_id, "failed", first, last)
    return Outcome(stream_id, reason, first, last)


def report_outcome(
    command: str, outcome: Outcome, publisher: StreamPublisher, what: str, topic: str
) -> int:
    """Print what the broker took (stdout) or what failed (stderr); return the exit status.

    Call it after :meth:`StreamPublisher.close`, so that every message is accounted for.
    """
    d = publisher.deliveries
    stream = f"stream {outcome.stream_id}"
    if outcome.reason == "start_failed":
        print(
            f"{command}: Kafka at {publisher.brokers} did not take the start message of "
            f"{stream} within {publisher.timeout_s:g} s ({_error(d.first_error, publisher)}); "
            "nothing was published",
            file=sys.stderr,
        )
        return 1
    seqs = "" if outcome.first_seq is None else f" (seq {outcome.first_seq}-{outcome.last_seq})"
    complete = outcome.reason != "failed" and not d.failed and not d.unanswered
    if complete:
        interrupted = ", interrupted" if outcome.reason == "interrupted" else ""
        print(
            f"published {stream}{interrupted}: {d.delivered} {what}{seqs} delivered to "
            f"{topic}, with its start and end messages"
        )
        return 130 if outcome.reason == "interrupted" else 0
    parts = [f"{d.delivered} of {d.sent} {what}{seqs} delivered"]
    if d.failed_seqs:
        parts.append(f"failed: seq {seq_ranges(d.failed_seqs)}")
    if d.unanswered:
        parts.append(f"{d.unanswered} not acknowledged in time")
    cause = outcome.error or _error(d.first_error, publisher)
    if "end" in d.control_delivered:
        ending = "the end message was delivered"
    else:
        ending = (
            "stopped at the first failure without an end message: the analysis closes "
            "the stream after its idle timeout"
        )
    print(
        f"{command}: delivery failed for {stream} ({cause}): {'; '.join(parts)}; {ending}",
        file=sys.stderr,
    )
    return 1


def seq_ranges(seqs: list[int]) -> str:
    """``[5, 6, 7, 9]`` as ``"5-7, 9"`` (the first :data:`SHOWN_RANGES` ranges)."""
    ranges: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    text = [f"{a}-{b}" if b > a else str(a) for a, b in ranges[:SHOWN_RANGES]]
    if len(ranges) > SHOWN_RANGES:
        text.append("...")
    return ", ".join(text)


def _error(error: str | None, publisher: StreamPublisher) -> str:
    text = error or "no answer"
    if publisher.broker_error and publisher.broker_error not in text:
        text += f"; last broker error: {publisher.broker_error}"
    return text

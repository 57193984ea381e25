"""One Kafka producer per API process, its delivery reports bridged to futures.

A background thread polls the confluent-kafka producer; each delivery report resolves the
:class:`concurrent.futures.Future` that :meth:`KafkaPublisher.submit` returned, which
coroutines await with :func:`asyncio.wrap_future` and threads with ``result()``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, Producer


class KafkaUnavailableError(RuntimeError):
    """Kafka did not take a message (broker unreachable, refused, timed out)."""


class KafkaPublisher:
    """A started producer: submit messages, get a future per delivery."""

    def __init__(
        self,
        brokers: str,
        *,
        delivery_timeout_s: float,
        max_message_bytes: int = 1_000_000,
        config: Mapping[str, str] | None = None,
    ) -> None:
        self.delivery_timeout_s = delivery_timeout_s
        self._producer = Producer(
            {
                "bootstrap.servers": brokers,
                "linger.ms": 5,
                "acks": "all",
                "enable.idempotence": True,
                "message.timeout.ms": max(1, int(delivery_timeout_s * 1000)),
                "message.max.bytes": max(1_000_000, max_message_bytes + 64 * 1024),
                **(config or {}),
            }
        )
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-publisher", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.1)

    def submit(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> Future[None]:
        """Queue one message; the future resolves once Kafka acknowledged it.

        Raises :class:`BufferError` when the producer's local queue is full (try again
        shortly); the future fails with :class:`KafkaUnavailableError`.
        """
        done: Future[None] = Future()

        def on_delivery(error: KafkaError | None, _message: Any) -> None:
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(
                    KafkaUnavailableError(f"Kafka refused the message: {error.str()}")
                )

        self._producer.produce(
            topic, value, key, headers=list(headers or ()), on_delivery=on_delivery
        )
        return done

    def send_blocking(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        """Publish one message and wait for its acknowledgement (from a worker thread)."""
        deadline = time.monotonic() + self.delivery_timeout_s
        while True:
            try:
                future = self.submit(topic, key, value, headers)
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise KafkaUnavailableError("the Kafka producer's queue is full") from None
                time.sleep(0.01)
        # The delivery report comes within message.timeout.ms; allow for the poll interval.
        try:
            future.result(timeout=self.delivery_timeout_s + 5.0)
        except TimeoutError:
            raise KafkaUnavailableError("no acknowledgement from Kafka") from None

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        """Publish one message and wait for its acknowledgement (from a coroutine)."""
        deadline = time.monotonic() + self.delivery_timeout_s
        while True:
            try:
                future = self.submit(topic, key, value, headers)
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise KafkaUnavailableError("the Kafka producer's queue is full") from None
                await asyncio.sleep(0.01)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self.delivery_timeout_s + 5.0)
        except TimeoutError:
            raise KafkaUnavailableError("no acknowledgement from Kafka") from None

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout_s``) and stop the poll thread."""
        self._stopping.set()
        self._thread.join()
        self._producer.flush(timeout_s)

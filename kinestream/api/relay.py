"""Live analysis events for the watch WebSockets: one events-topic consumer per API process.

A background thread reads every partition of the events topic (assigned, not subscribed:
no consumer group, nothing committed) from where the topic ended at startup, and hands each
event to the :class:`Subscription` objects registered for its stream. A subscription is a
bounded buffer: the thread only appends to it and never waits, so a slow watcher cannot
slow the others; a subscription that overflows is marked and its watcher closes the socket.
API instances each run their own hub; the events topic is their only common input.

Partitions added to the topic after startup are not read (restart the API after adding
partitions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import deque
from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition

from kinestream import wire
from kinestream.events import AnalysisEvent

_log = logging.getLogger(__name__)


class SubscriptionOverflowError(Exception):
    """The watcher fell more than the subscription's capacity behind."""


class Subscription:
    """Live events of one stream for one watcher, at most ``capacity`` of them buffered."""

    def __init__(self, stream_id: str, loop: asyncio.AbstractEventLoop, capacity: int) -> None:
        self.stream_id = stream_id
        self.capacity = capacity
        self.overflowed = asyncio.Event()
        """Set (on the event loop) once the buffer overflowed; the buffer is then dropped."""
        self._loop = loop
        self._lock = threading.Lock()
        self._events: deque[AnalysisEvent] = deque()
        self._overflow = False
        self._wake_scheduled = False
        self._wakeup = asyncio.Event()

    def offer(self, event: AnalysisEvent) -> None:
        """Buffer one event (called by the consumer thread; never blocks)."""
        with self._lock:
            if self._overflow:
                return
            if len(self._events) >= self.capacity:
                self._overflow = True
                self._events.clear()
            else:
                self._events.append(event)
            if self._wake_scheduled:
                return
            self._wake_scheduled = True
        with contextlib.suppress(RuntimeError):  # a closed loop: the watcher is gone
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self._lock:
            self._wake_scheduled = False
            overflow = self._overflow
        self._wakeup.set()
        if overflow:
            self.overflowed.set()

    async def next_batch(self, timeout_s: float) -> list[AnalysisEvent]:
        """The events buffered so far, waiting up to ``timeout_s`` for one (``[]``: none).

        Raises :class:`SubscriptionOverflowError` once the buffer overflowed.
        """
        batch = self._take()
        if batch:
            return batch
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout_s)
        return self._take()

    def _take(self) -> list[AnalysisEvent]:
        with self._lock:
            if self._overflow:
                raise SubscriptionOverflowError(f"more than {self.capacity} events queued")
            batch = list(self._events)
            self._events.clear()
        return batch


class EventHub:
    """The process's events-topic consumer and its subscriptions (see the module docstring)."""

    def __init__(
        self,
        brokers: str,
        topic: str,
        *,
        capacity: int,
        config: Mapping[str, str] | None = None,
    ) -> None:
        self.topic = topic
        self.capacity = capacity
        self.ready = threading.Event()
        """Set once the partitions are assigned: events published from then on are seen."""
        self._config = {
            "bootstrap.servers": brokers,
            # Required by the client, never used: partitions are assigned, nothing committed.
            "group.id": f"kinestream-api-relay-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "fetch.wait.max.ms": 50,
            **(config or {}),
        }
        self._lock = threading.Lock()
        self._subscriptions: dict[bytes, set[Subscription]] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-event-hub", daemon=True)

    def start(self) -> None:
        """Start the consumer thread."""
        self._thread.start()

    def close(self) -> None:
        """Stop the consumer thread and close the consumer."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def subscribe(self, stream_id: str) -> Subscription:
        """Register a watcher of ``stream_id`` (call on the event loop it will wait on)."""
        subscription = Subscription(stream_id, asyncio.get_running_loop(), self.capacity)
        with self._lock:
            self._subscriptions.setdefault(stream_id.encode(), set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a watcher."""
        key = subscription.stream_id.encode()
        with self._lock:
            subscriptions = self._subscriptions.get(key)
            if subscriptions is not None:
                subscriptions.discard(subscription)
                if not subscriptions:
                    del self._subscriptions[key]

    def _assign(self, consumer: Consumer, from_end: bool) -> bool | None:
        """Assign every partition; ``None`` when the topic does not exist (yet)."""
        metadata = consumer.list_topics(self.topic, timeout=1)
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return None
        assignment = []
        for partition in sorted(topic.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=5
            )
            assignment.append(TopicPartition(self.topic, partition, high if from_end else low))
        consumer.assign(assignment)
        return True

    def _run(self) -> None:
        consumer = Consumer(self._config)
        # Until the topic is seen missing, start at its end; a topic created after startup
        # holds only new events, so it is read from its beginning.
        from_end = True
        warned = False
        try:
            while not self._stopping.is_set():
                if not self.ready.is_set():
                    try:
                        assigned = self._assign(consumer, from_end)
                    except KafkaException as error:
                        if not warned:
                            _log.warning("events topic %s not reachable: %s", self.topic, error)
                        warned = True
                        assigned = False
                    if assigned is None:
                        from_end = False
                    if not assigned:
                        self._stopping.wait(0.5)
                        continue
                    self.ready.set()
                # Wait for one message, then take what else is there without waiting.
                first = consumer.poll(0.2)
                if first is None:
                    continue
                for message in (first, *consumer.consume(500, 0)):
                    if message.error() is None:
                        self._dispatch(message.key(), message.value())
        finally:
            consumer.close()

    def _dispatch(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        with self._lock:
            subscriptions = tuple(self._subscriptions.get(key, ()))
        if not subscriptions:
            return
        try:
            event = wire.decode_event(key, value)
        except wire.WireError as error:
            _log.warning("skipping an undecodable event of stream %r: %s", key, error)
            return
        for subscription in subscriptions:
            subscription.offer(event)

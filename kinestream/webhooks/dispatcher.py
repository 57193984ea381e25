"""The webhook dispatcher (``kinestream webhooks``): from the webhooks topic to receivers.

::

    webhooks topic ──consumer group──► match registrations ──► webhook_deliveries (pending)
                                                                │ claim due rows
                                                                ▼
    receivers ◄──────────────── signed POST ──────────── delivery loop ──► dead-letter topic

Intake
    Reads :class:`~kinestream.wire.WebhookEvent` messages with a consumer group (a short
    session timeout, 10 s by default, so that a dispatcher that dies hands its partitions
    to the others quickly; optionally a static member id, so that one restarted in place
    takes them back at once), matches each against the registered webhooks (same API key,
    subscribed event type, sport and analysis unset or equal) and records one pending
    delivery per match (:func:`~kinestream.webhooks.deliveries.record_deliveries`). Offsets
    are committed only after a batch's deliveries are committed to the database, so a crash
    re-reads the batch; delivery ids are deterministic, so re-reading inserts nothing twice.
    Messages that do not decode are logged and skipped.

Delivery
    A loop claims due pending deliveries (``FOR UPDATE SKIP LOCKED`` with a lease, so any
    number of dispatchers can run side by side) and POSTs each, at most ``concurrency`` at a
    time, each attempt within ``timeout_s``, no redirect followed, the target checked again
    right before (:mod:`~kinestream.webhooks.sender`). A 2xx response delivers it.
    Anything else (another status, a timeout, a connection error, a refused target) counts
    as a failed attempt: the next is scheduled in the database (:class:`RetrySchedule`), so
    the schedule survives restarts. After the last attempt the delivery is ``dead``: it is
    put on the dead-letter topic (:class:`~kinestream.wire.DeadLetter`) and marked so.
    Deliveries are at least once and in no particular order: receivers deduplicate on
    ``Kinestream-Event-Id`` and order by the event's ``position`` or ``capture_time_s``.

The request
    ``POST <webhook url>`` with headers ``Content-Type: application/json``,
    ``Kinestream-Signature`` (see :mod:`kinestream.signing`), ``Kinestream-Event-Id``,
    ``Kinestream-Delivery-Id``, ``Kinestream-Event-Type`` and
    ``User-Agent: kinestream-webhooks/<version>``. Body (compact UTF-8 JSON)::

        {"delivery_id": "<uuid>", "webhook_id": "<uuid>", "analysis_id": "<uuid>",
         "athlete_id": "<text>" | null, "sport": "cmj" | "drop_jump" | "squat_jump",
         "event": <the event, kinestream.events.AnalysisEvent.to_dict()>}

Stopping
    :meth:`WebhookDispatcher.stop` (the command calls it on SIGTERM and SIGINT) stops
    reading and claiming, waits for the attempts in flight (each ends within
    ``timeout_s``), records them, and returns. A dispatcher killed outright leaves its
    claimed deliveries to be taken again when their lease ends.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

from kinestream import __version__, wire
from kinestream.signing import SIGNATURE_HEADER, sign
from kinestream.store.migrations import schema_problem
from kinestream.webhooks.deliveries import (
    AsyncConnection,
    Claim,
    claim_due,
    dead_letters,
    mark_delivered,
    mark_failed,
    record_deliveries,
)
from kinestream.webhooks.sender import WebhookSender

DEFAULT_GROUP_ID: Final = "kinestream-webhooks"
USER_AGENT: Final = f"kinestream-webhooks/{__version__}"

_log = logging.getLogger(__name__)

_LEASE_MARGIN_S: Final = 30.0
"""A claim's lease: the attempt's timeout plus this, for recording its outcome."""
_KAFKA_POLL_S: Final = 0.5
_DATABASE_RETRY_CAP_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """When a failed delivery is tried again: ``base_s`` after the first failure, twice as
    long after each further one, at most ``cap_s``, each delay scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` (so receivers that failed together are not retried together);
    no more tries once ``max_attempts`` were made."""

    base_s: float = 2.0
    cap_s: float = 3600.0
    max_attempts: int = 15
    """With the defaults, tries span about four hours: a receiver down for an afternoon
    still gets its events."""
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not self.base_s > 0:
            raise ValueError(f"retry base must be positive, got {self.base_s!r} s")
        if not self.cap_s >= self.base_s:
            raise ValueError(f"retry cap ({self.cap_s!r} s) must be at least its base")
        if self.max_attempts < 1:
            raise ValueError(f"max attempts must be at least 1, got {self.max_attempts!r}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter!r}")

    def delay_s(self, attempts: int, rng: random.Random) -> float | None:
        """Seconds from the ``attempts``-th failed attempt to the next; ``None`` after the last."""
        if attempts >= self.max_attempts:
            return None
        delay = self.base_s * 2.0 ** min(attempts - 1, 62)
        return min(self.cap_s, delay * rng.uniform(1 - self.jitter, 1 + self.jitter))


@dataclass(frozen=True, slots=True)
class DispatcherSettings:
    """Everything the dispatcher needs to know about its surroundings."""

    database_url: str
    brokers: tuple[str, ...] = ("127.0.0.1:9092",)
    topics: wire.Topics = field(default_factory=wire.Topics)
    group_id: str = DEFAULT_GROUP_ID
    concurrency: int = 16
    """Deliveries in flight at once (per dispatcher process)."""
    timeout_s: float = 10.0
    """Deadline of one attempt: resolution, connection, request and response."""
    retry: RetrySchedule = field(default_factory=RetrySchedule)
    allow_private: bool = False
    """Deliver to loopback and private addresses too (development and tests)."""
    ca_file: str | None = None
    """PEM file of the certificate authorities to trust instead of the default ones."""
    poll_interval_s: float = 1.0
    """How often the database is asked for due deliveries when nothing else wakes the loop."""
    kafka_batch_size: int = 500
    session_timeout_s: float = 10.0
    """How long the consumer group waits for a dispatcher that stopped heartbeating (killed,
    cut off) before its partitions go to the others: the longest pause in reading the
    webhooks topic after a dispatcher dies (Kafka's default is 45 s). At least the broker's
    ``group.min.session.timeout.ms`` (6 s by default)."""
    instance_id: str | None = None
    """A static group member id (``group.instance.id``), unique per dispatcher and kept
    across its restarts (say, the pod's name): a dispatcher restarted with the same id gets
    its partitions back at once, without a rebalance. ``None``: a dynamic member."""

    def __post_init__(self) -> None:
        if not self.brokers:
            raise ValueError("no Kafka brokers given")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency!r}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout must be positive, got {self.timeout_s!r} s")
        if not self.poll_interval_s > 0:
            raise ValueError(f"poll interval must be positive, got {self.poll_interval_s!r} s")
        if self.kafka_batch_size < 1:
            raise ValueError(f"Kafka batch size must be at least 1, got {self.kafka_batch_size!r}")
        if not 1 <= self.session_timeout_s <= 3600:
            raise ValueError(
                f"session timeout must be between 1 and 3600 s, got {self.session_timeout_s!r}"
            )
        if self.instance_id is not None and not self.instance_id.strip():
            raise ValueError("an instance id must not be empty")


class DispatcherError(RuntimeError):
    """The dispatcher cannot start: no database, or one without the webhook tables."""


class _DeadLetterError(RuntimeError):
    """Dead letters that could not be put on the dead-letter topic (tried again later)."""


class _Database:
    """One autocommit connection, opened on first use and again after it broke."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AsyncConnection:
        async with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
            return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class WebhookDispatcher:
    """Reads the webhooks topic and delivers to the matching webhooks until stopped."""

    def __init__(self, settings: DispatcherSettings) -> None:
        self._settings = settings
        self._rng = random.Random()
        self._guard = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # claim now: new deliveries, or a free slot
        self._dead = asyncio.Event()  # a delivery died: put it on the dead-letter topic
        self._drained = asyncio.Event()  # stopped, and no attempt in flight any more
        self._due: list[float] = []  # loop times at which a retry this process scheduled is due

    def stop(self) -> None:
        """Ask :meth:`run` to stop (safe from any thread and from signal handlers)."""
        with self._guard:
            self._stop_requested = True
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._stopping.set)

    async def run(self) -> None:
        """Dispatch until :meth:`stop`; return once in-flight deliveries are recorded."""
        with self._guard:
            self._loop = asyncio.get_running_loop()
            if self._stop_requested:
                return
        s = self._settings
        await _check_database(s.database_url)
        _log.info(
            "webhook dispatcher starting: topic %s, group %s (%s, %g s session timeout),"
            " dead letters to %s, %d concurrent, %g s timeout, %d attempts (retry after %g s"
            " doubling to %g s)%s",
            s.topics.webhooks,
            s.group_id,
            f"instance {s.instance_id}" if s.instance_id is not None else "dynamic member",
            s.session_timeout_s,
            s.topics.dead_letters,
            s.concurrency,
            s.timeout_s,
            s.retry.max_attempts,
            s.retry.base_s,
            s.retry.cap_s,
            ", private targets allowed" if s.allow_private else "",
        )
        verify: ssl.SSLContext | bool = True
        if s.ca_file is not None:
            verify = ssl.create_default_context(cafile=s.ca_file)
        producer = Producer({"bootstrap.servers": ",".join(s.brokers), "enable.idempotence": True})
        try:
            async with (
                WebhookSender(
                    concurrency=s.concurrency,
                    timeout_s=s.timeout_s,
                    allow_private=s.allow_private,
                    verify=verify,
                ) as sender,
                asyncio.TaskGroup() as tasks,
            ):
                tasks.create_task(self._intake())
                tasks.create_task(self._deliver(sender))
                tasks.create_task(self._dead_letters(producer))
        finally:
            await asyncio.to_thread(producer.flush, s.timeout_s)
        _log.info("webhook dispatcher stopped")

    # --- intake ------------------------------------------------------------------------

    async def _intake(self) -> None:
        s = self._settings
        consumer = Consumer(_consumer_config(s))
        consumer.subscribe([s.topics.webhooks])
        db = _Database(s.database_url)
        poll_s = min(_KAFKA_POLL_S, s.poll_interval_s)
        try:
            while not self._stopping.is_set():
                messages = await asyncio.to_thread(consumer.consume, s.kafka_batch_size, poll_s)
                if not messages:
                    continue
                items = [item for message in messages if (item := _decode(message)) is not None]
                if not await self._record(db, items):
                    break  # stopping before the batch was recorded: its offsets stay
                try:
                    await asyncio.to_thread(consumer.commit, asynchronous=False)
                except KafkaException as exc:
                    # The batch is recorded; whoever reads it again inserts nothing new.
                    _log.warning("could not commit webhooks-topic offsets: %s", exc)
        finally:
            await asyncio.to_thread(consumer.close)
            await db.close()

    async def _record(self, db: _Database, items: list[wire.WebhookEvent]) -> bool:
        """Record the batch's deliveries, retrying until done (``True``) or stopped."""
        delay_s = 0.5
        while True:
            try:
                new = await record_deliveries(await db.get(), items)
                break
            except psycopg.Error as exc:
                _log.warning(
                    "could not record %d webhook events (%s); retrying in %g s",
                    len(items),
                    exc,
                    delay_s,
                )
            if await self._stopped_within(delay_s):
                return False
            delay_s = min(2 * delay_s, _DATABASE_RETRY_CAP_S)
        if new:
            _log.info("%d new deliveries for %d webhook events", new, len(items))
            self._wake.set()
        return True

    # --- delivery ----------------------------------------------------------------------

    async def _deliver(self, sender: WebhookSender) -> None:
        s = self._settings
        db = _Database(s.database_url)
        in_flight: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            if not task.cancelled() and task.exception() is not None:
                _log.error("delivery attempt crashed", exc_info=task.exception())
            self._wake.set()

        try:
            while not self._stopping.is_set():
                self._wake.clear()
                free = s.concurrency - len(in_flight)
                for claim in await self._claim(db, free) if free > 0 else []:
                    task = asyncio.create_task(self._attempt(db, sender, claim))
                    in_flight.add(task)
                    task.add_done_callback(finished)
                await _wait_any(self._wake, self._stopping, timeout_s=self._idle_s())
            if in_flight:
                _log.info("stopping: finishing %d deliveries in flight", len(in_flight))
                await asyncio.gather(*in_flight, return_exceptions=True)
        finally:
            self._drained.set()
            await db.close()

    async def _claim(self, db: _Database, limit: int) -> list[Claim]:
        lease_s = self._settings.timeout_s + _LEASE_MARGIN_S
        try:
            return await claim_due(await db.get(), limit, lease_s)
        except psycopg.Error as exc:
            _log.warning("could not claim due deliveries: %s", exc)
            return []

    def _idle_s(self) -> float:
        """How long to wait at most: the poll interval, or less if a retry is due sooner."""
        now = asyncio.get_running_loop().time()
        while self._due and self._due[0] <= now:
            heapq.heappop(self._due)
        poll_s = self._settings.poll_interval_s
        return min(poll_s, self._due[0] - now) if self._due else poll_s

    async def _attempt(self, db: _Database, sender: WebhookSender, claim: Claim) -> None:
        body = json.dumps(claim.body, separators=(",", ":"), allow_nan=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Kinestream-Event-Id": claim.event_id,
            "Kinestream-Delivery-Id": claim.delivery_id,
            "Kinestream-Event-Type": claim.event_type,
            SIGNATURE_HEADER: sign(claim.secret, body, int(time.time())),
        }
        outcome = await sender.post(claim.url, body, headers)
        attempt = claim.attempts + 1
        what = f"delivery {claim.delivery_id} ({claim.event_type} {claim.event_id})"
        where = f"webhook {claim.webhook_id}"
        if outcome.delivered:
            status = outcome.status_code
            if await self._save(db, what, lambda conn: mark_delivered(conn, claim, status)):
                _log.info("%s delivered to %s: HTTP %s, attempt %d", what, where, status, attempt)
            return
        error = outcome.error or "failed"
        retry_in_s = self._settings.retry.delay_s(attempt, self._rng)

        def failed(conn: AsyncConnection) -> Awaitable[bool]:
            return mark_failed(
                conn, claim, error=error, status_code=outcome.status_code, retry_in_s=retry_in_s
            )

        if not await self._save(db, what, failed):
            return
        if retry_in_s is None:
            _log.warning("%s to %s is dead after %d attempts: %s", what, where, attempt, error)
            self._dead.set()
        else:
            _log.info(
                "%s to %s: attempt %d failed (%s); next in %.1f s",
                what,
                where,
                attempt,
                error,
                retry_in_s,
            )
            heapq.heappush(self._due, asyncio.get_running_loop().time() + retry_in_s)

    async def _save(
        self, db: _Database, what: str, update: Callable[[AsyncConnection], Awaitable[bool]]
    ) -> bool:
        """Record an attempt's outcome; log when that failed or the claim's lease ran out."""
        try:
            if await update(await db.get()):
                return True
            _log.warning("%s: lease ran out before its outcome was recorded", what)
        except psycopg.Error as exc:
            _log.error("%s: could not record its outcome (%s); tried again later", what, exc)
        return False

    # --- dead letters ------------------------------------------------------------------

    async def _dead_letters(self, producer: Producer) -> None:
        """Put dead deliveries on the dead-letter topic: at start (an earlier run may have
        left some), whenever one dies, and once more after the last attempt in flight."""
        s = self._settings
        db = _Database(s.database_url)
        retry_s = s.poll_interval_s
        try:
            while True:
                last = self._drained.is_set()
                self._dead.clear()
                timeout_s: float | None = None  # wait for the next death
                if await self._publish_dead_letters(db, producer):
                    retry_s = s.poll_interval_s
                else:
                    timeout_s, retry_s = retry_s, min(2 * retry_s, _DATABASE_RETRY_CAP_S)
                if last:
                    return
                await _wait_any(self._dead, self._drained, timeout_s=timeout_s)
        finally:
            await db.close()

    async def _publish_dead_letters(self, db: _Database, producer: Producer) -> bool:
        """Publish every dead delivery not yet published; ``False`` when that failed."""
        topic = self._settings.topics.dead_letters

        async def publish(letters: list[wire.DeadLetter]) -> None:
            await self._produce(producer, topic, letters)

        try:
            while published := await dead_letters(await db.get(), publish):
                _log.info("put %d dead deliveries on %s", published, topic)
        except (psycopg.Error, _DeadLetterError) as exc:
            _log.warning("could not put dead deliveries on %s: %s", topic, exc)
            return False
        return True

    async def _produce(
        self, producer: Producer, topic: str, letters: list[wire.DeadLetter]
    ) -> None:
        errors: list[KafkaError] = []

        def delivered(error: KafkaError | None, _: Message) -> None:
            if error is not None:
                errors.append(error)

        try:
            for letter in letters:
                key, value = wire.encode_dead_letter(letter)
                producer.produce(topic, key=key, value=value, on_delivery=delivered)
            remaining = await asyncio.to_thread(producer.flush, self._settings.timeout_s)
        except (KafkaException, BufferError) as exc:
            raise _DeadLetterError(str(exc)) from exc
        if remaining or errors:
            raise _DeadLetterError(
                f"{remaining} messages unsent, errors: {', '.join(map(str, errors)) or 'none'}"
            )

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True


def _consumer_config(s: DispatcherSettings) -> dict[str, str | int | bool]:
    """The webhooks-topic consumer's settings: a short session, static when given an id."""
    session_ms = int(s.session_timeout_s * 1000)
    config: dict[str, str | int | bool] = {
        "bootstrap.servers": ",".join(s.brokers),
        "group.id": s.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": session_ms,
        "heartbeat.interval.ms": max(100, session_ms // 4),
    }
    if s.instance_id is not None:
        config["group.instance.id"] = s.instance_id
    return config


async def _check_database(url: str) -> None:
    problem = await asyncio.to_thread(schema_problem, url)
    if problem is not None:
        raise DispatcherError(problem)


async def _wait_any(*events: asyncio.Event, timeout_s: float | None) -> None:
    """Wait until one of ``events`` is set, or ``timeout_s`` passed (``None``: no limit)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _decode(message: Message) -> wire.WebhookEvent | None:
    where = f"{message.topic()} [{message.partition()}] @ {message.offset()}"
    error = message.error()
    if error is not None:
        _log.warning("webhooks-topic consumer error: %s", error)
        return None
    try:
        return wire.decode_webhook(message.key(), message.value())
    except wire.WireError as exc:
        _log.warning("skipping undecodable webhooks-topic message %s: %s", where, exc)
        return None

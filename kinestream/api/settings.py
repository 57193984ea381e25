"""The API service's settings: where Kafka and PostgreSQL are, and its limits."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from kinestream import wire
from kinestream.store.analyses import SessionTimeouts

DEFAULT_BROKERS = "127.0.0.1:9092"
DEFAULT_SESSION_IDLE_TIMEOUT_S = SessionTimeouts().idle_s
DEFAULT_STOP_GRACE_S = SessionTimeouts().stop_grace_s
DEFAULT_REAPER_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Everything an API instance needs; instances share nothing but Kafka and the database."""

    database_url: str
    brokers: str = DEFAULT_BROKERS
    """Comma-separated Kafka bootstrap servers."""
    topics: wire.Topics = field(default_factory=wire.Topics)
    public_base_url: str | None = None
    """Base of the URLs handed to clients (``https://api.example.com``); default: the
    request's own scheme and host."""
    kafka_timeout_s: float = 5.0
    """How long a publish may wait for Kafka's acknowledgement before the request fails."""
    database_pool_size: int = 8
    relay_queue_size: int = 1024
    """Live events buffered per WebSocket watcher; a watcher that falls further behind is
    closed (code 1013) and may reconnect with ``after``."""
    relay_ready_timeout_s: float = 10.0
    """How long a watch socket waits for the events consumer to be assigned its partitions
    (after startup, or while the events topic does not exist) before it is refused (503)."""
    heartbeat_s: float = 15.0
    """A quiet watch socket gets a heartbeat this often (and the database is re-checked)."""
    close_timeout_s: float = 10.0
    """How long closing a socket whose client does not read may take before it is dropped."""
    watch_token_ttl_s: float = 24 * 3600.0
    max_frame_bytes: int = 1_000_000
    """Largest ``KF`` packet the ingest socket takes (Kafka's default message size is 1 MB;
    raise the broker's and the frames topic's limits before raising this)."""
    max_pose_bytes: int = 4096
    ingest_max_in_flight: int = 32
    """Messages of one ingest socket that may wait for Kafka's acknowledgement at once."""
    max_bad_messages: int = 10
    """Consecutive invalid messages after which an ingest socket is closed (code 1007)."""
    max_body_bytes: int = 64 * 1024
    """Largest HTTP request body (every body of the API is a small JSON object): a bigger
    one is refused with 413 before it is read, or as soon as it passes this while read."""
    ingest_stop_check_s: float = 1.0
    """How often a quiet ingest socket asks the database whether its analysis was stopped
    (a stopped analysis's sockets close with 1000 within about this long)."""
    kafka_config: Mapping[str, str] = field(default_factory=dict)
    """Extra librdkafka settings for the producer and the events consumer."""
    session_idle_timeout_s: float = DEFAULT_SESSION_IDLE_TIMEOUT_S
    """An open analysis with no event stored and no input delivered for this long is ended
    (reason ``idle_timeout``); the dataflow ends a live idle one after its own, shorter idle
    timeout (30 s), so this only ends analyses the dataflow lost."""
    stop_grace_s: float = DEFAULT_STOP_GRACE_S
    """A stop the dataflow has not confirmed (by ending the analysis) this long after it was
    requested is ended by the API (reason ``stopped_without_flow``)."""
    reaper_interval_s: float = DEFAULT_REAPER_INTERVAL_S
    """How often each API instance looks for dead analyses to end."""

    def __post_init__(self) -> None:
        if not self.reaper_interval_s > 0:
            raise ValueError(f"reaper interval must be positive, got {self.reaper_interval_s!r} s")
        SessionTimeouts(self.session_idle_timeout_s, self.stop_grace_s)  # checks them

    @property
    def session_timeouts(self) -> SessionTimeouts:
        """When an open analysis counts as dead (see :mod:`kinestream.store.session_end`)."""
        return SessionTimeouts(idle_s=self.session_idle_timeout_s, stop_grace_s=self.stop_grace_s)

    @property
    def ws_max_size(self) -> int:
        """Largest WebSocket message the server reads at all (bigger: closed with 1009)."""
        return 2 * max(self.max_frame_bytes, self.max_pose_bytes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, topic_prefix: str = ""
    ) -> ApiSettings:
        """Read ``KINESTREAM_DATABASE_URL``, ``KINESTREAM_KAFKA``, ``KINESTREAM_TOPIC_*``,
        ``KINESTREAM_API_PUBLIC_URL``, ``KINESTREAM_SESSION_IDLE_TIMEOUT_S``,
        ``KINESTREAM_STOP_GRACE_S`` and ``KINESTREAM_REAPER_INTERVAL_S``.

        Raises ``ValueError`` (naming the variable) for a missing database or a bad number.
        """
        env = os.environ if environ is None else environ
        database_url = env.get("KINESTREAM_DATABASE_URL", "")
        if not database_url:
            raise ValueError("no database: set KINESTREAM_DATABASE_URL")

        def seconds(variable: str, default: float) -> float:
            raw = env.get(variable)
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{variable}: {raw!r} is not a number") from None
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{variable}: {raw!r} is not a positive number of seconds")
            return value

        return cls(
            database_url=database_url,
            brokers=env.get("KINESTREAM_KAFKA") or DEFAULT_BROKERS,
            topics=wire.Topics.from_env(env, prefix=topic_prefix),
            public_base_url=env.get("KINESTREAM_API_PUBLIC_URL") or None,
            session_idle_timeout_s=seconds(
                "KINESTREAM_SESSION_IDLE_TIMEOUT_S", DEFAULT_SESSION_IDLE_TIMEOUT_S
            ),
            stop_grace_s=seconds("KINESTREAM_STOP_GRACE_S", DEFAULT_STOP_GRACE_S),
            reaper_interval_s=seconds("KINESTREAM_REAPER_INTERVAL_S", DEFAULT_REAPER_INTERVAL_S),
        )

"""The API service's settings: where Kafka and PostgreSQL are, and its limits."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from kinestream import wire

DEFAULT_BROKERS = "127.0.0.1:9092"


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
    kafka_config: Mapping[str, str] = field(default_factory=dict)
    """Extra librdkafka settings for the producer and the events consumer."""

    @property
    def ws_max_size(self) -> int:
        """Largest WebSocket message the server reads at all (bigger: closed with 1009)."""
        return 2 * max(self.max_frame_bytes, self.max_pose_bytes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, topic_prefix: str = ""
    ) -> ApiSettings:
        """Read ``KINESTREAM_DATABASE_URL``, ``KINESTREAM_KAFKA``, ``KINESTREAM_TOPIC_*`` and
        ``KINESTREAM_API_PUBLIC_URL``."""
        env = os.environ if environ is None else environ
        database_url = env.get("KINESTREAM_DATABASE_URL", "")
        if not database_url:
            raise ValueError("no database: set KINESTREAM_DATABASE_URL")
        return cls(
            database_url=database_url,
            brokers=env.get("KINESTREAM_KAFKA") or DEFAULT_BROKERS,
            topics=wire.Topics.from_env(env, prefix=topic_prefix),
            public_base_url=env.get("KINESTREAM_API_PUBLIC_URL") or None,
        )

"""A small pool of synchronous psycopg connections, used from coroutines through threads.

The connectors (:mod:`kinestream.store.api_keys`, ``analysis_store``, the webhook
registry) are plain synchronous functions of a connection; :meth:`Database.run` borrows a
connection, calls one of them in a worker thread and gives the connection back. Connections
are in autocommit mode: a function that needs a transaction opens one
(``conn.transaction()``). A connection that failed is closed and replaced on next use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
import psycopg

P = ParamSpec("P")
T = TypeVar("T")

Connection = psycopg.Connection[Any]


class Database:
    """At most ``size`` connections to ``conninfo``, opened on demand."""

    def __init__(self, conninfo: str, size: int = 8) -> None:
        self._conninfo = conninfo
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(size)
        self._limiter = anyio.CapacityLimiter(size)

    def _connection(self, conn: Connection | None) -> Connection:
        if conn is not None and not (conn.closed or conn.broken):
            return conn
        if conn is not None:
            conn.close()
        return psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)

    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Call ``fn(connection, *args, **kwargs)`` in a worker thread and return its result."""
        async with self._slots:
            held: list[Connection] = [self._idle.pop()] if self._idle else []

            def call() -> T:
                conn = self._connection(held.pop() if held else None)
                held.append(conn)
                return fn(conn, *args, **kwargs)

            try:
                return await anyio.to_thread.run_sync(call, limiter=self._limiter)
            except psycopg.OperationalError:
                for conn in held:
                    conn.close()
                held.clear()
                raise
            finally:
                self._idle.extend(conn for conn in held if not conn.closed)

    def close(self) -> None:
        """Close the idle connections (call once no request runs)."""
        while self._idle:
            self._idle.pop().close()

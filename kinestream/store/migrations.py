"""Database schema migrations: ordered SQL files, each applied once.

The files are package data in ``kinestream/store/migrations/``, named
``NNN_name.sql``. :func:`migrate` applies them in order, each in its own transaction, and
records each by name (``NNN_name``) in the ``schema_migrations`` table, so a second run
applies only what is new. A session-level advisory lock serialises concurrent runs (say, two
containers starting at once): the later one waits, then finds nothing left to apply.

TimescaleDB is optional. A file may have a companion ``NNN_name.timescale.sql``, applied
right after ``NNN_name.sql`` (and recorded as ``NNN_name.timescale``) only where the server
offers the ``timescaledb`` extension (``pg_available_extensions``): the companion creates
the extension and turns tables into hypertables with retention policies. Elsewhere it is
skipped and the same tables serve on plain PostgreSQL. :func:`database_mode` tells which of
the two a database gets, ``"timescaledb"`` or ``"postgresql"``. A companion skipped on a plain
server is applied by a later run once the extension becomes available there. Base files
never depend on a companion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Final, Literal

import psycopg

Mode = Literal["timescaledb", "postgresql"]

MIGRATIONS_TABLE: Final = "schema_migrations"
_LOCK_KEY: Final = 0x6B696E65  # "kine": this module's pg_advisory_lock key
_FILE_NAME: Final = re.compile(r"^(?P<base>\d{3}_[a-z0-9_]+)(?P<timescale>\.timescale)?\.sql$")


class MigrationError(RuntimeError):
    """A migration file failed; its transaction was rolled back."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: ``name`` is the file name without ``.sql``."""

    name: str
    sql: str
    timescale_only: bool


def load_migrations() -> list[Migration]:
    """Return every migration shipped with the package, in the order they apply."""
    folder = resources.files("kinestream.store") / "migrations"
    found: list[tuple[tuple[str, bool], Migration]] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(
                f"migration file {entry.name!r} is not named NNN_name.sql or NNN_name.timescale.sql"
            )
        timescale_only = match["timescale"] is not None
        migration = Migration(
            name=entry.name.removesuffix(".sql"),
            sql=entry.read_text(encoding="utf-8"),
            timescale_only=timescale_only,
        )
        found.append(((match["base"], timescale_only), migration))
    found.sort(key=lambda item: item[0])
    return [migration for _, migration in found]


def _mode(conn: psycopg.Connection[tuple[object, ...]]) -> Mode:
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return "timescaledb" if row is not None else "postgresql"


def database_mode(conninfo: str) -> Mode:
    """Return ``"timescaledb"`` where the server offers TimescaleDB, else ``"postgresql"``."""
    with psycopg.connect(conninfo) as conn:
        return _mode(conn)


def pending_migrations(conninfo: str) -> list[str]:
    """Names of the migrations the database at ``conninfo`` still needs (``[]``: current)."""
    with psycopg.connect(conninfo) as conn:
        mode = _mode(conn)
        table = conn.execute("SELECT to_regclass(%s)", (MIGRATIONS_TABLE,)).fetchone()
        done: set[str] = set()
        if table is not None and table[0] is not None:
            done = {str(row[0]) for row in conn.execute("SELECT name FROM schema_migrations")}
    return [
        m.name
        for m in load_migrations()
        if m.name not in done and (mode == "timescaledb" or not m.timescale_only)
    ]


def schema_problem(conninfo: str) -> str | None:
    """Why a process cannot use the database at ``conninfo`` (unreachable, or migrations
    missing), in words for its user; ``None`` when it can."""
    try:
        pending = pending_migrations(conninfo)
    except psycopg.Error as error:
        return f"cannot use the database: {str(error).strip()}"
    if pending:
        return (
            f"the database lacks migrations {', '.join(pending)}: run `kinestream db migrate` first"
        )
    return None


def migrate(conninfo: str) -> list[str]:
    """Apply the pending migrations to the database at ``conninfo``; return their names."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {str(row[0]) for row in conn.execute("SELECT name FROM schema_migrations")}
            mode = _mode(conn)
            applied: list[str] = []
            for migration in load_migrations():
                if migration.name in done or (migration.timescale_only and mode != "timescaledb"):
                    continue
                try:
                    with conn.transaction():
                        # Bytes, no parameters: sent as one simple query, several statements.
                        conn.execute(migration.sql.encode())
                        conn.execute(
                            "INSERT INTO schema_migrations (name) VALUES (%s)", (migration.name,)
                        )
                except psycopg.Error as error:
                    raise MigrationError(f"migration {migration.name} failed: {error}") from error
                applied.append(migration.name)
            return applied
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))

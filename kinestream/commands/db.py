"""``kinestream db migrate``: apply the pending schema migrations."""

from __future__ import annotations

import argparse
import os
import sys


def add_db_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``kinestream db``."""
    db = sub.add_parser("db", help="manage the database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    migrate = db_sub.add_parser("migrate", help="apply the pending schema migrations")
    migrate.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (default: $KINESTREAM_DATABASE_URL)",
    )
    migrate.set_defaults(handler=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    """Apply the pending migrations and say which; return the exit status."""
    import psycopg

    from kinestream.store.migrations import MigrationError, database_mode, migrate

    url = args.database_url or os.environ.get("KINESTREAM_DATABASE_URL")
    if not url:
        print(
            "kinestream db migrate: no database: pass --database-url URL "
            "or set KINESTREAM_DATABASE_URL",
            file=sys.stderr,
        )
        return 2
    try:
        applied = migrate(url)
        mode = database_mode(url)
    except (MigrationError, psycopg.Error) as error:
        print(f"kinestream db migrate: {error}", file=sys.stderr)
        return 1
    for name in applied:
        print(f"applied {name}")
    print(f"schema up to date ({len(applied)} applied; mode: {mode})")
    return 0

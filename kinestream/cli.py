"""The ``kinestream`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from kinestream import __version__


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every ``kinestream`` subcommand."""
    parser = argparse.ArgumentParser(
        prog="kinestream",
        description="Real-time biomechanical analysis of athletes' jumps from side-view video.",
    )
    parser.add_argument("--version", action="version", version=f"kinestream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_db_commands(sub)
    _add_flow_commands(sub)
    _add_topics_commands(sub)
    _add_api_commands(sub)
    _add_webhooks_commands(sub)
    _add_analyze_commands(sub)
    _add_stream_io_commands(sub)
    return parser


def _add_analyze_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kinestream.analyze import add_analyze_command
    from kinestream.simulate import add_simulate_command

    add_analyze_command(sub)
    add_simulate_command(sub)


def _add_stream_io_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kinestream.publish import add_publish_command
    from kinestream.record import add_record_command
    from kinestream.replay import add_replay_command

    add_publish_command(sub)
    add_record_command(sub)
    add_replay_command(sub)


def _add_webhooks_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kinestream.connectors.webhook_command import add_webhooks_command

    add_webhooks_command(sub)


def _add_api_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kinestream.api.command import add_api_command, add_keys_command

    add_api_command(sub)
    add_keys_command(sub)


def _add_topics_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kinestream.connectors.topics_command import add_topics_command

    add_topics_command(sub)


def _add_flow_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kinestream.flows.command import add_flow_command

    add_flow_command(sub)


def _add_db_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="manage the database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    migrate = db_sub.add_parser("migrate", help="apply the pending schema migrations")
    migrate.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (default: $KINESTREAM_DATABASE_URL)",
    )
    migrate.set_defaults(handler=_db_migrate)


def _db_migrate(args: argparse.Namespace) -> int:
    import psycopg

    from kinestream.connectors.migrations import MigrationError, database_mode, migrate

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kinestream`` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())

"""``kinestream api`` (serve the HTTP API) and ``kinestream keys`` (manage its API keys)."""

from __future__ import annotations

import argparse
import os
import sys

from kinestream.store.api_keys import DEFAULT_MAX_STREAMS, DEFAULT_RATE_PER_MINUTE

_API_DESCRIPTION = """\
Serve the HTTP and WebSocket API (OpenAPI at /docs and /openapi.json): create analyses,
take their frames or poses, relay their events. The service talks to Kafka and PostgreSQL
only (run `kinestream db migrate` first); start as many instances as needed side by side.

Each instance also ends the analyses the dataflow no longer finishes: a stop not confirmed
within $KINESTREAM_STOP_GRACE_S (default 30) seconds, or nothing stored or sent for
$KINESTREAM_SESSION_IDLE_TIMEOUT_S (default 120) seconds; it looks every
$KINESTREAM_REAPER_INTERVAL_S (default 5) seconds.
"""


def _database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("KINESTREAM_DATABASE_URL") or None,
        help="PostgreSQL URL (default: $KINESTREAM_DATABASE_URL)",
    )


def add_api_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``kinestream api``."""
    env = os.environ.get
    api = sub.add_parser(
        "api",
        help="serve the HTTP API",
        description=_API_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    api.add_argument(
        "--brokers",
        default=env("KINESTREAM_KAFKA") or "127.0.0.1:9092",
        help="comma-separated Kafka brokers (default: $KINESTREAM_KAFKA or 127.0.0.1:9092)",
    )
    _database_option(api)
    api.add_argument(
        "--topic-prefix",
        default="",
        metavar="PREFIX",
        help="put PREFIX in front of every default topic name ($KINESTREAM_TOPIC_* override)",
    )
    api.add_argument(
        "--public-url",
        default=env("KINESTREAM_API_PUBLIC_URL") or None,
        metavar="URL",
        help="base of the URLs handed to clients, e.g. https://api.example.com"
        " (default: $KINESTREAM_API_PUBLIC_URL, else the request's own host)",
    )
    api.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default info)",
    )
    api.set_defaults(handler=_run_api)


def _run_api(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from kinestream.api.server import serve
    from kinestream.api.settings import ApiSettings

    if not args.database_url:
        print(
            "kinestream api: no database: pass --database-url URL or set KINESTREAM_DATABASE_URL",
            file=sys.stderr,
        )
        return 2
    try:
        from_env = ApiSettings.from_env(
            {**os.environ, "KINESTREAM_DATABASE_URL": args.database_url},
            topic_prefix=args.topic_prefix,
        )
    except ValueError as error:
        print(f"kinestream api: {error}", file=sys.stderr)
        return 2
    settings = replace(from_env, brokers=args.brokers, public_base_url=args.public_url)
    serve(settings, args.host, args.port, log_level=args.log_level)
    return 0


def add_keys_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``kinestream keys create | list | revoke``."""
    keys = sub.add_parser("keys", help="manage the API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")

    create = keys_sub.add_parser(
        "create",
        help="create an API key and print it (once)",
        description="Create an API key. The key is printed on stdout, once: it is stored"
        " hashed and cannot be shown again.",
    )
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument(
        "--rate-per-minute",
        type=int,
        default=DEFAULT_RATE_PER_MINUTE,
        metavar="R",
        help=f"requests per minute (default {DEFAULT_RATE_PER_MINUTE})",
    )
    create.add_argument(
        "--max-streams",
        type=int,
        default=DEFAULT_MAX_STREAMS,
        metavar="S",
        help=f"analyses running at once (default {DEFAULT_MAX_STREAMS})",
    )
    _database_option(create)
    create.set_defaults(handler=_keys_create)

    listing = keys_sub.add_parser("list", help="list the API keys (never their secrets)")
    _database_option(listing)
    listing.set_defaults(handler=_keys_list)

    revoke = keys_sub.add_parser("revoke", help="revoke an API key for good")
    revoke.add_argument(
        "key_id", metavar="KEY_ID", help="the key's id (see `kinestream keys list`)"
    )
    _database_option(revoke)
    revoke.set_defaults(handler=_keys_revoke)


def _database_url(args: argparse.Namespace) -> str | None:
    if not args.database_url:
        print(
            f"kinestream keys {args.keys_command}: no database: pass --database-url URL"
            " or set KINESTREAM_DATABASE_URL",
            file=sys.stderr,
        )
    url: str | None = args.database_url
    return url


def _keys_create(args: argparse.Namespace) -> int:
    import psycopg

    from kinestream.store.api_keys import ApiKeyError, create_key

    url = _database_url(args)
    if url is None:
        return 2
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            key, token = create_key(
                conn,
                args.name,
                rate_per_minute=args.rate_per_minute,
                max_streams=args.max_streams,
            )
    except (ApiKeyError, psycopg.Error) as error:
        print(f"kinestream keys create: {error}", file=sys.stderr)
        return 1
    print(token)
    print(
        f"created key {key.key_id} ({key.name!r}: {key.rate_per_minute} requests/min,"
        f" {key.max_streams} concurrent streams); the key above is not shown again",
        file=sys.stderr,
    )
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    import psycopg

    from kinestream.store.api_keys import list_keys

    url = _database_url(args)
    if url is None:
        return 2
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            keys = list_keys(conn)
    except psycopg.Error as error:
        print(f"kinestream keys list: {error}", file=sys.stderr)
        return 1
    rows = [("KEY_ID", "NAME", "RATE/MIN", "STREAMS", "CREATED", "REVOKED")]
    for key in keys:
        rows.append(
            (
                key.key_id,
                key.name,
                str(key.rate_per_minute),
                str(key.max_streams),
                key.created_at.strftime("%Y-%m-%d %H:%M:%S%z"),
                key.revoked_at.strftime("%Y-%m-%d %H:%M:%S%z") if key.revoked_at else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    import psycopg

    from kinestream.store.api_keys import revoke_key

    url = _database_url(args)
    if url is None:
        return 2
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            key = revoke_key(conn, args.key_id)
    except psycopg.Error as error:
        print(f"kinestream keys revoke: {error}", file=sys.stderr)
        return 1
    if key is None:
        print(f"kinestream keys revoke: no key {args.key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked key {key.key_id} ({key.name!r})")
    return 0

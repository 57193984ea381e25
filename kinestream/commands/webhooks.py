"""``kinestream webhooks``: run the webhook dispatcher until SIGTERM or SIGINT.

It reads the webhooks topic with a consumer group, records one delivery per webhook that
matches each event in PostgreSQL, and POSTs each signed delivery. A failed attempt is
tried again --retry-base-s later, then twice as long after each further failure (at most
--retry-cap-s); after --max-attempts the delivery is dead and goes to the dead-letter
topic. Run as many dispatchers side by side as you like (same group id): they share the
topic's partitions and the database's due deliveries; when one dies, the others take its
partitions within --session-timeout-s (10 s), or it takes them back at once when restarted
with the same --instance-id. On SIGTERM or SIGINT it finishes
the deliveries in flight (at most --timeout-s) and exits.

    kinestream webhooks --brokers kafka:9092 --database-url postgresql://..."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

from kinestream.webhooks.targets import ALLOW_PRIVATE_ENV, allow_private_from_env

if TYPE_CHECKING:
    from kinestream.webhooks.dispatcher import WebhookDispatcher


def add_webhooks_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``kinestream webhooks`` to the command's subparsers."""
    env = os.environ.get
    hooks = sub.add_parser(
        "webhooks",
        help="deliver analysis events to the registered webhooks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hooks.add_argument(
        "--brokers",
        default=env("KINESTREAM_KAFKA") or "127.0.0.1:9092",
        help="comma-separated Kafka brokers (default: $KINESTREAM_KAFKA or 127.0.0.1:9092)",
    )
    hooks.add_argument(
        "--database-url",
        default=env("KINESTREAM_DATABASE_URL") or None,
        help="PostgreSQL URL, required (default: $KINESTREAM_DATABASE_URL)",
    )
    hooks.add_argument(
        "--topic-prefix",
        default="",
        metavar="PREFIX",
        help="put PREFIX in front of every default topic name ($KINESTREAM_TOPIC_* override)",
    )
    hooks.add_argument(
        "--group-id",
        default=env("KINESTREAM_WEBHOOKS_GROUP_ID") or "kinestream-webhooks",
        help="Kafka consumer group (default: $KINESTREAM_WEBHOOKS_GROUP_ID or %(default)s)",
    )
    _number(hooks, "--concurrency", int, "16", "deliveries in flight at once")
    _number(hooks, "--timeout-s", float, "10", "deadline of one attempt, seconds")
    _number(hooks, "--max-attempts", int, "15", "attempts before a delivery is dead")
    _number(hooks, "--retry-base-s", float, "2", "delay after the first failure, then doubling")
    _number(hooks, "--retry-cap-s", float, "3600", "longest delay between two attempts")
    _number(hooks, "--poll-interval-s", float, "1", "how often to look for due deliveries")
    _number(
        hooks,
        "--session-timeout-s",
        float,
        "10",
        "how soon the others take over the webhooks topic from a dispatcher that died"
        " (at least the broker's group.min.session.timeout.ms, 6 s by default)",
    )
    hooks.add_argument(
        "--instance-id",
        default=env("KINESTREAM_WEBHOOKS_INSTANCE_ID") or None,
        metavar="ID",
        help="static consumer-group member id, unique per dispatcher and kept across its"
        " restarts (e.g. the pod name): restarted, it takes its partitions back at once"
        " (default: $KINESTREAM_WEBHOOKS_INSTANCE_ID, else a dynamic member)",
    )
    hooks.add_argument(
        "--allow-private",
        action="store_true",
        default=allow_private_from_env(),
        help=f"deliver to loopback and private addresses too (development; ${ALLOW_PRIVATE_ENV}=1)",
    )
    hooks.add_argument(
        "--ca-file",
        default=env("KINESTREAM_WEBHOOKS_CA_FILE") or None,
        metavar="PEM",
        help="trust these certificate authorities instead of the default ones"
        " (default: $KINESTREAM_WEBHOOKS_CA_FILE)",
    )
    hooks.set_defaults(handler=run_webhooks_command)


def _number(
    parser: argparse.ArgumentParser,
    option: str,
    kind: type[int] | type[float],
    default: str,
    what: str,
) -> None:
    variable = "KINESTREAM_WEBHOOKS_" + option.removeprefix("--").replace("-", "_").upper()

    def positive(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            noun = "whole number" if kind is int else "number"
            raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not positive")
        return value

    parser.add_argument(
        option,
        type=positive,
        # A string default goes through `type` too, so a bad variable is reported like a bad
        # option, and only when this command runs.
        default=os.environ.get(variable) or default,
        metavar="N" if kind is int else "S",
        help=f"{what} (default: ${variable} or {default})",
    )


def run_webhooks_command(args: argparse.Namespace) -> int:
    """Run the dispatcher until it is stopped; 0 after a clean stop."""
    from kinestream.webhooks.dispatcher import (
        DispatcherError,
        DispatcherSettings,
        RetrySchedule,
        WebhookDispatcher,
    )
    from kinestream.wire import Topics

    if not args.database_url:
        print(
            "kinestream webhooks: no database: pass --database-url URL"
            " or set KINESTREAM_DATABASE_URL",
            file=sys.stderr,
        )
        return 2
    try:
        settings = DispatcherSettings(
            database_url=args.database_url,
            brokers=tuple(b.strip() for b in args.brokers.split(",") if b.strip()),
            topics=Topics.from_env(prefix=args.topic_prefix),
            group_id=args.group_id,
            concurrency=args.concurrency,
            timeout_s=args.timeout_s,
            retry=RetrySchedule(
                base_s=args.retry_base_s, cap_s=args.retry_cap_s, max_attempts=args.max_attempts
            ),
            allow_private=args.allow_private,
            ca_file=args.ca_file,
            poll_interval_s=args.poll_interval_s,
            session_timeout_s=args.session_timeout_s,
            instance_id=args.instance_id,
        )
    except ValueError as exc:
        print(f"kinestream webhooks: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request with its URL, which may carry the receiver's tokens; the
    # dispatcher logs each attempt by delivery and webhook id instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    dispatcher = WebhookDispatcher(settings)
    try:
        asyncio.run(_serve(dispatcher))
    except DispatcherError as exc:
        print(f"kinestream webhooks: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(dispatcher: WebhookDispatcher) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, dispatcher.stop)
    await dispatcher.run()

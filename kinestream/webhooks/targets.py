"""Which URLs a webhook may point at: public http(s) addresses only, unless allowed.

A webhook URL is chosen by an API user and fetched by our servers, so it must not reach
what only our servers can reach (the database, the metadata service, the loopback
interface): :func:`resolve_target` resolves the host and refuses loopback, private,
link-local, multicast, reserved, unspecified and otherwise non-public addresses, IPv4 and
IPv6 alike, including IPv4 addresses wrapped in IPv6 (``::ffff:127.0.0.1``, 6to4, Teredo).
Every address the host resolves to must pass, since the connection may use any of them.

The check runs when a webhook is registered and again right before each delivery (DNS
answers change); the dispatcher then connects to the addresses it checked. Development
and tests, whose receivers run on loopback, set ``KINESTREAM_WEBHOOKS_ALLOW_PRIVATE=1``
(:func:`allow_private_from_env`).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

MAX_URL_LENGTH: Final = 2048
ALLOW_PRIVATE_ENV: Final = "KINESTREAM_WEBHOOKS_ALLOW_PRIVATE"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookTargetError(ValueError):
    """A webhook URL that kinestream refuses to deliver to; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked webhook URL: its parts and the addresses its host resolved to."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def allow_private_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``KINESTREAM_WEBHOOKS_ALLOW_PRIVATE=1`` allows non-public targets."""
    env = os.environ if environ is None else environ
    return env.get(ALLOW_PRIVATE_ENV, "0") == "1"


def check_target(url: str, *, allow_private: bool) -> None:
    """Raise :class:`WebhookTargetError` unless kinestream may deliver to ``url`` now."""
    resolve_target(url, allow_private=allow_private)


def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Check ``url`` and resolve its host; raise :class:`WebhookTargetError` with the reason.

    The URL must be ``http`` or ``https``, name a host, carry no credentials and be at most
    :data:`MAX_URL_LENGTH` characters. Unless ``allow_private``, every address the host
    resolves to must be public.
    """
    scheme, host, port = _parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookTargetError(f"webhook host {host!r} does not resolve") from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise WebhookTargetError(f"webhook host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = _non_public(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason is not None:
                shown = host if host == address else f"{host!r} resolves to {address}, which"
                raise WebhookTargetError(
                    f"webhook host {shown} is {reason}; webhooks must reach a public address"
                )
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=addresses)


def _parse(url: str) -> tuple[str, str, int]:
    if len(url) > MAX_URL_LENGTH:
        raise WebhookTargetError(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise WebhookTargetError("webhook URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookTargetError(f"webhook URL is malformed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookTargetError(
            f"webhook URL must start with https:// or http://, not {parts.scheme or url!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise WebhookTargetError("webhook URL must not contain credentials (user:password@)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookTargetError("webhook URL has no host")
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80)


def _non_public(ip: IPAddress) -> str | None:
    """Say what kind of non-public address ``ip`` is (``None`` for a public one)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            reason = _non_public(embedded)
            return None if reason is None else f"{reason} (as {ip})"
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a publicly routable address"),
    )
    return next((reason for refused, reason in checks if refused), None)

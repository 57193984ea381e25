"""Webhook signatures: how a receiver knows a delivery came from kinestream, unchanged and
recent.

Every webhook delivery is an HTTP POST whose raw body is signed with the webhook's secret
(the string shown once when the webhook was created). The signature travels in one header::

    Kinestream-Signature: t=1767225600,v1=3f0c5d…(64 lowercase hex digits)

``t``
    When the request was signed: Unix time in whole seconds, ASCII decimal.
``v1``
    HMAC-SHA256, lowercase hex. Key: the secret's UTF-8 bytes. Message: the ASCII decimal
    ``t``, a full stop ``.``, then the request body's bytes exactly as received (before any
    JSON parsing or re-encoding).

The header is a comma-separated list of ``name=value`` parts. A receiver must ignore parts
with names it does not know (a later scheme adds, say, ``v2``), and accept the request when
any ``v1`` part matches: more than one ``v1`` may be sent while a secret is rotated.

To verify a delivery, in any language:

1. Split the header on ``,`` and each part at its first ``=``; take the one ``t`` (an
   integer) and every ``v1``. Refuse the request when ``t`` is missing, repeated or not an
   integer, or when there is no ``v1``.
2. Compute ``HMAC-SHA256(key=secret, message=t + "." + body)`` and hex-encode it.
3. Compare it with each ``v1`` in constant time (``hmac.compare_digest``,
   ``crypto.timingSafeEqual``, ``MessageDigest.isEqual``…); refuse when none matches.
4. Refuse when ``t`` is more than the tolerance (300 s here) before or after the
   receiver's clock: an old, captured request cannot be replayed.

A request that passes may still be a retry of one already handled: deduplicate on the
``Kinestream-Event-Id`` header (the same event always has the same id).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

SIGNATURE_HEADER: Final = "Kinestream-Signature"
DEFAULT_TOLERANCE_S: Final = 300.0


class SignatureError(ValueError):
    """A signature header that is malformed, does not match the body, or is out of date."""


def _signature(secret: str, body: bytes, timestamp: int) -> str:
    if not secret:
        raise ValueError("the signing secret must not be empty")
    message = f"{int(timestamp)}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Return the ``Kinestream-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={int(timestamp)},v1={_signature(secret, body, timestamp)}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Check a ``Kinestream-Signature`` header against the raw ``body``.

    Raise :class:`SignatureError` when the header is malformed, no ``v1`` signature matches
    (compared in constant time), or its timestamp is more than ``tolerance_s`` seconds away
    from ``now`` (Unix seconds; default: the current time).
    """
    timestamp, candidates = _parse(header)
    current = time.time() if now is None else now
    if timestamp < current - tolerance_s:
        raise SignatureError(
            f"signature timestamp is {current - timestamp:.0f} s old (tolerance {tolerance_s:g} s)"
        )
    if timestamp > current + tolerance_s:
        raise SignatureError(
            f"signature timestamp is {timestamp - current:.0f} s in the future"
            f" (tolerance {tolerance_s:g} s)"
        )
    expected = _signature(secret, body, timestamp).encode()
    # Every candidate is compared, so the time taken does not tell which one came closest.
    matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in candidates]
    if not any(matches):
        raise SignatureError("signature does not match the body")


def _parse(header: str) -> tuple[int, list[str]]:
    timestamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed signature header part {part.strip()!r}")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            candidates.append(value)
    if len(timestamps) != 1:
        raise SignatureError("signature header needs exactly one t=<unix seconds>")
    if not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise SignatureError(f"signature timestamp {timestamps[0]!r} is not an integer")
    if not candidates:
        raise SignatureError("signature header has no v1 signature")
    return int(timestamps[0]), candidates

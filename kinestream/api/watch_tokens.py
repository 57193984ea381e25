"""Watch tokens: expiring, read-only grants to one analysis's live WebSocket.

``POST /analyses`` returns one, so the owner can share a live view (a coach's screen, a
browser page) without handing out the API key. A token reads
``wt_<payload>.<signature>``: the payload is base64url JSON (analysis id, owning key id,
expiry in Unix seconds), the signature base64url HMAC-SHA256 of the payload under the
secret every API instance shares (``api_secrets``, see
:func:`kinestream.store.api_keys.shared_secret`). A token is good until it expires or
its key is revoked; it opens the watch socket of its analysis and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "wt_"
SECRET_NAME: Final = "watch_token"


@dataclass(frozen=True, slots=True)
class WatchGrant:
    """What a valid watch token allows: watching ``analysis_id`` until ``expires_at_s``."""

    analysis_id: str
    api_key_id: str
    expires_at_s: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def issue(secret: bytes, analysis_id: str, api_key_id: str, ttl_s: float) -> tuple[str, WatchGrant]:
    """A token for watching ``analysis_id`` during ``ttl_s`` seconds, and its grant."""
    grant = WatchGrant(analysis_id, api_key_id, int(time.time() + ttl_s))
    body = {"a": grant.analysis_id, "k": grant.api_key_id, "e": grant.expires_at_s}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{PREFIX}{payload}.{_sign(secret, payload)}", grant


def verify(secret: bytes, token: str) -> WatchGrant | None:
    """The grant of a well-signed, unexpired token; ``None`` for anything else."""
    if not token.startswith(PREFIX) or token.count(".") != 1:
        return None
    payload, signature = token[len(PREFIX) :].split(".")
    if not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    try:
        body = json.loads(_unb64(payload))
        grant = WatchGrant(str(body["a"]), str(body["k"]), int(body["e"]))
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    return grant if grant.expires_at_s > time.time() else None

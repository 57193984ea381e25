"""Checking a webhook delivery on the receiving side (the scheme: :mod:`kinestream.signing`)."""

from __future__ import annotations

import json
from typing import Any

from kinestream.client.errors import WebhookSignatureError
from kinestream.signing import DEFAULT_TOLERANCE_S, SIGNATURE_HEADER, SignatureError, verify


def verify_webhook(
    secret: str,
    body: bytes,
    signature_header: str | None,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> dict[str, Any]:
    """The JSON body of a genuine, recent webhook delivery.

    ``body`` is the request's raw body, exactly as received; ``signature_header`` the value
    of its ``Kinestream-Signature`` header; ``secret`` the webhook's signing secret. Raises
    :class:`~kinestream.client.errors.WebhookSignatureError` when the header is missing or
    malformed, no signature matches, it was signed more than ``tolerance_s`` seconds away
    from now, or the body is not a JSON object. Deliveries are at least once: deduplicate on
    the ``Kinestream-Event-Id`` header (or the body's ``event.event_id``).
    """
    if not signature_header:
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header: not a kinestream delivery")
    try:
        verify(secret, body, signature_header, tolerance_s=tolerance_s)
    except SignatureError as exc:
        raise WebhookSignatureError(str(exc)) from exc
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise WebhookSignatureError(f"the signed body is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise WebhookSignatureError("the signed body is not a JSON object")
    return parsed

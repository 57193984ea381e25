"""verify_webhook: a body signed as the dispatcher signs it is accepted and parsed; anything
changed, missing, stale or not JSON is refused with the reason."""

from __future__ import annotations

import json
import re
import time

import pytest

from kinestream.client import KinestreamError, WebhookSignatureError, verify_webhook
from kinestream.signing import sign

SECRET = "whsec-test-0123456789abcdef0123456789"
DELIVERY = {
    "delivery_id": "0b0f6c1e-6f0e-4b1a-9a51-3c0f1d6b7a21",
    "webhook_id": "5b1f0c2e-8d5a-4c4e-9a51-0f3b2d7c6e19",
    "analysis_id": "5b1f0c2e-8d5a-4c4e-9a51-0f3b2d7c6e20",
    "athlete_id": None,
    "sport": "cmj",
    "event": {"event_type": "rep_complete", "payload": {"rep": 1}},
}
BODY = json.dumps(DELIVERY, separators=(",", ":")).encode()


def test_a_genuine_delivery_is_parsed() -> None:
    header = sign(SECRET, BODY, int(time.time()))
    assert verify_webhook(SECRET, BODY, header) == DELIVERY


Signed = tuple[str, bytes, int]
"""A signature made when the test runs: secret, signed body, age in seconds."""


@pytest.mark.parametrize(
    ("body", "header", "reason"),
    [
        (
            BODY.replace(b'"rep":1', b'"rep":2'),
            (SECRET, BODY, 0),
            "signature does not match the body",
        ),
        (BODY, ("another secret", BODY, 0), "does not match"),
        (BODY, "", "no Kinestream-Signature header"),
        (BODY, "t=1,v1", "malformed signature header"),
        (BODY, (SECRET, BODY, 400), "s old (tolerance 300 s)"),
        (b"not json", (SECRET, b"not json", 0), "the signed body is not JSON"),
        (b"[1, 2]", (SECRET, b"[1, 2]", 0), "not a JSON object"),
    ],
    ids=["altered", "other-secret", "no-header", "malformed", "old", "not-json", "not-object"],
)
def test_anything_else_is_refused(body: bytes, header: Signed | str, reason: str) -> None:
    if isinstance(header, tuple):  # signed now, not when the tests were collected
        secret, signed, age_s = header
        header = sign(secret, signed, int(time.time()) - age_s)
    with pytest.raises(WebhookSignatureError, match=re.escape(reason)) as refused:
        verify_webhook(SECRET, body, header)
    assert isinstance(refused.value, KinestreamError)


def test_the_tolerance_is_the_callers() -> None:
    header = sign(SECRET, BODY, int(time.time()) - 400)
    assert verify_webhook(SECRET, BODY, header, tolerance_s=600) == DELIVERY

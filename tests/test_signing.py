"""Webhook signatures: the scheme the module docstring describes, checked independently."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from kinestream.signing import SignatureError, sign, verify

SECRET = "k3yBytes-for-the-test-0123456789abcdefghijkl"
BODY = b'{"delivery_id":"d","event":{"event_type":"rep_complete"}}'
T = 1_767_225_600


def _expected(secret: str, body: bytes, timestamp: int) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def test_header_is_timestamp_and_hmac_sha256_of_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, T)

    assert header == f"t={T},v1={_expected(SECRET, BODY, T)}"


def test_known_answer() -> None:
    # printf '1767225600.{"ok":true}' | openssl dgst -sha256 -hmac 'whsec-test-secret'
    expected = "8edd74749807344fca26697d804bd4440886f7ac42f7f5cb7477578ba35e98c0"

    assert sign("whsec-test-secret", b'{"ok":true}', T) == f"t={T},v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    verify(SECRET, BODY, sign(SECRET, BODY, T), now=T + 10)


def test_tampered_body_is_rejected() -> None:
    header = sign(SECRET, BODY, T)

    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY.replace(b"rep_complete", b"rep_completf"), header, now=T)


def test_another_secret_is_rejected() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET + "x", BODY, sign(SECRET, BODY, T), now=T)


def test_a_signature_moved_to_another_timestamp_is_rejected() -> None:
    v1 = _expected(SECRET, BODY, T)

    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY, f"t={T + 1},v1={v1}", now=T)


def test_old_and_future_timestamps_are_rejected() -> None:
    header = sign(SECRET, BODY, T)

    verify(SECRET, BODY, header, now=T + 300)
    with pytest.raises(SignatureError, match="301 s old"):
        verify(SECRET, BODY, header, now=T + 301)
    with pytest.raises(SignatureError, match="in the future"):
        verify(SECRET, BODY, header, now=T - 301)
    verify(SECRET, BODY, header, now=T + 3000, tolerance_s=3600)


def test_any_matching_v1_is_accepted_and_unknown_schemes_are_ignored() -> None:
    good = _expected(SECRET, BODY, T)

    verify(SECRET, BODY, f"t={T}, v0=abc, v1={'0' * 64}, v1={good}, v9=zzz", now=T)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "malformed"),
        ("garbage", "malformed"),
        (f"v1={'0' * 64}", "exactly one t"),
        (f"t={T},t={T},v1={'0' * 64}", "exactly one t"),
        (f"t=-{T},v1={'0' * 64}", "not an integer"),
        (f"t=1e9,v1={'0' * 64}", "not an integer"),
        (f"t={T}", "no v1"),
        (f"t={T},v1=\u00e9\u00e9", "does not match"),
    ],
)
def test_malformed_headers_are_rejected(header: str, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify(SECRET, BODY, header, now=T)


def test_an_empty_secret_cannot_sign() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign("", BODY, T)

"""Watch tokens: signed, expiring, bound to one analysis and one key."""

from __future__ import annotations

import time

from kinestream.api import watch_tokens

SECRET = b"s" * 64


def test_a_token_carries_its_grant() -> None:
    before = time.time()
    token, grant = watch_tokens.issue(SECRET, "analysis-1", "key-1", ttl_s=60)
    after = time.time()
    assert token.startswith("wt_")
    assert grant.analysis_id == "analysis-1"
    assert grant.api_key_id == "key-1"
    assert int(before + 60) <= grant.expires_at_s <= int(after + 60)  # 60 s from its issue
    assert watch_tokens.verify(SECRET, token) == grant


def test_forged_tampered_and_expired_tokens_grant_nothing() -> None:
    token, _ = watch_tokens.issue(SECRET, "analysis-1", "key-1", ttl_s=60)
    expired, _ = watch_tokens.issue(SECRET, "analysis-1", "key-1", ttl_s=-1)
    payload, signature = token.removeprefix("wt_").split(".")
    other, _ = watch_tokens.issue(SECRET, "analysis-2", "key-1", ttl_s=60)
    for bad in (
        expired,
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        f"wt_{other.removeprefix('wt_').split('.')[0]}.{signature}",
        f"wt_{payload}",
        f"wt_{payload}.{signature}.x",
        "ks_0123456789abcdef_" + "a" * 43,
        "wt_!!!.???",
        "",
    ):
        assert watch_tokens.verify(SECRET, bad) is None, bad
    assert watch_tokens.verify(b"another secret", token) is None

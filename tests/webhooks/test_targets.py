"""Webhook targets: public http(s) addresses only, unless private targets are allowed.

Literal addresses and ``localhost`` resolve without a network; nothing here needs DNS.
"""

from __future__ import annotations

import pytest

from kinestream.webhooks.targets import (
    MAX_URL_LENGTH,
    WebhookTargetError,
    allow_private_from_env,
    check_target,
    resolve_target,
)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.8.9.10:8080/hook", "loopback"),
        ("http://localhost:9000/hook", "'localhost' resolves to 127.0.0.1, which is a loopback"),
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one number
        ("https://10.1.2.3/hook", "private"),
        ("https://172.16.0.1/hook", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://100.64.0.1/hook", "not a publicly routable"),
        ("http://240.0.0.1/hook", "reserved"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::]/hook", "unspecified"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fd00::1]/hook", "private"),
        ("http://[ff02::1]/hook", "multicast"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback address (as ::ffff:7f00:1)"),
        ("http://[::ffff:10.0.0.1]/hook", "private"),
        ("http://[2002:a9fe:a9fe::1]/hook", "link-local"),  # 6to4 around 169.254.169.254
    ],
)
def test_non_public_targets_are_refused(url: str, reason: str) -> None:
    with pytest.raises(WebhookTargetError, match="webhooks must reach a public address") as info:
        check_target(url, allow_private=False)

    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://8.8.8.8/hook", "8.8.8.8"),
        ("http://93.184.215.14:8080/a/b?c=d", "93.184.215.14"),
        ("https://[2001:4860:4860::8888]/hook", "2001:4860:4860::8888"),
        ("https://[::ffff:8.8.8.8]/hook", "::ffff:8.8.8.8"),
    ],
)
def test_public_literal_addresses_are_allowed(url: str, address: str) -> None:
    target = resolve_target(url, allow_private=False)

    assert target.url == url
    assert target.addresses == (address,)


def test_private_targets_are_allowed_when_asked() -> None:
    target = resolve_target("http://localhost:8123/hook", allow_private=True)

    assert (target.scheme, target.host, target.port) == ("http", "localhost", 8123)
    assert "127.0.0.1" in target.addresses
    check_target("https://[::1]/hook", allow_private=True)


def test_default_ports_follow_the_scheme() -> None:
    assert resolve_target("https://8.8.8.8/", allow_private=False).port == 443
    assert resolve_target("http://8.8.8.8/", allow_private=False).port == 80


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://8.8.8.8/hook", "must start with https:// or http://"),
        ("file:///etc/passwd", "must start with https:// or http://"),
        ("8.8.8.8/hook", "must start with https:// or http://"),
        ("https:///hook", "has no host"),
        ("https://user:pw@8.8.8.8/hook", "credentials"),
        ("https://user@8.8.8.8/hook", "credentials"),
        ("https://8.8.8.8:99999/hook", "malformed"),
        ("https://8.8.8.8/a b", "spaces or control characters"),
        ("https://8.8.8.8/\r\nX-Injected: 1", "spaces or control characters"),
        ("https://8.8.8.8/" + "a" * MAX_URL_LENGTH, f"longer than {MAX_URL_LENGTH}"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(WebhookTargetError, match=reason):
        check_target(url, allow_private=True)


def test_allowance_comes_from_the_environment() -> None:
    assert allow_private_from_env({"KINESTREAM_WEBHOOKS_ALLOW_PRIVATE": "1"})
    assert not allow_private_from_env({"KINESTREAM_WEBHOOKS_ALLOW_PRIVATE": "0"})
    assert not allow_private_from_env({})

"""One HTTP POST to a webhook, guarded: the target is checked right before, the connection
goes to the address that was checked, nothing is followed, nothing waits forever.

:meth:`WebhookSender.post` resolves and checks the URL's host
(:func:`~kinestream.webhooks.targets.resolve_target`), then connects to the
checked addresses themselves (the URL's host stays in the ``Host`` header and in TLS's
server name and certificate check), so a DNS answer that changes between the check and
the connection cannot lead the request elsewhere. Connections are not reused: every
request opens its own to the address just checked. A redirect is a failure (following it
would leave the checked target). The whole attempt, name resolution included, has one
deadline, and at most :data:`MAX_RESPONSE_BYTES` of the response are read.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import httpx

from kinestream.webhooks.targets import WebhookTargetError, resolve_target

MAX_RESPONSE_BYTES: Final = 16 * 1024
"""At most this much of a response is read."""
_ERROR_EXCERPT_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of one POST: delivered (2xx) or not, and why not."""

    delivered: bool
    status_code: int | None
    """The response's status; ``None`` when no response came."""
    error: str | None
    """A readable reason when not delivered."""


class WebhookSender:
    """POSTs webhook requests; at most ``concurrency`` at a time (use as an async context)."""

    def __init__(
        self,
        *,
        concurrency: int,
        timeout_s: float,
        allow_private: bool,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._timeout_s = timeout_s
        self._allow_private = allow_private
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=0),
            verify=verify,
            trust_env=False,
        )

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """POST ``body`` to ``url``; never raises for what the receiver or network does."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._post(url, body, headers)
        except TimeoutError:
            return Outcome(False, None, f"timed out after {self._timeout_s:g} s")
        except WebhookTargetError as exc:
            return Outcome(False, None, f"target refused: {exc}")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc))

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        target = await asyncio.to_thread(resolve_target, url, allow_private=self._allow_private)
        requested = httpx.URL(url)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        last_error: httpx.TransportError | None = None
        for address in target.addresses:
            request = self._client.build_request(
                "POST",
                requested.copy_with(host=address.split("%", 1)[0]),
                content=body,
                headers={**headers, "Host": requested.netloc.decode("ascii")},
                extensions=extensions,
            )
            try:
                response = await self._client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last_error = exc  # this address is unreachable: try the next one
                continue
            try:
                return await self._outcome(response)
            finally:
                await response.aclose()
        assert last_error is not None
        raise last_error

    async def _outcome(self, response: httpx.Response) -> Outcome:
        received = bytearray()
        async for chunk in response.aiter_raw():
            received += chunk
            if len(received) >= MAX_RESPONSE_BYTES:
                break
        status = response.status_code
        if 200 <= status < 300:
            return Outcome(True, status, None)
        if response.is_redirect:
            location = response.headers.get("Location", "")
            return Outcome(False, status, f"HTTP {status} redirect to {location!r} not followed")
        text = bytes(received[: 4 * _ERROR_EXCERPT_CHARS]).decode("utf-8", "replace")
        excerpt = " ".join(text.split())[:_ERROR_EXCERPT_CHARS]
        return Outcome(False, status, f"HTTP {status}" + (f": {excerpt}" if excerpt else ""))

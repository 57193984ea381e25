"""``/analyses/{id}/live``: an analysis's live page, for a browser.

One static, self-contained page (``static/live.html``: inline CSS and JavaScript, nothing
fetched from anywhere else) fed by the watch socket alone: the athlete's skeleton drawn
from each ``metric_update``'s echoed pose, the current phase, the CoM live, a table of the
repetitions, warnings and errors as they come, and the session summary. It reconnects with
``after=`` the last position it showed, and stops once the analysis ended.

The route serves the same bytes for every analysis id and checks no credential, so it tells
nobody whether an analysis exists. The page takes the analysis's watch token from the URL
fragment (``…/live#token=wt_…``, ``watch.live`` in the answer to ``POST /analyses``):
browsers never send a fragment, so the token stays out of server and proxy logs. The watch
socket is where the token is checked. The page is HTML, not API: it is left out of the
OpenAPI document.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources
from typing import Final
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(prefix="/analyses")

PAGE: Final = resources.files("kinestream.api").joinpath("static/live.html").read_bytes()


def _inline_source(tag: str) -> str:
    """The CSP source allowing the page's one inline ``<tag>`` element (its SHA-256)."""
    match = re.search(rb"<%s>(.*?)</%s>" % (tag.encode(), tag.encode()), PAGE, re.DOTALL)
    if match is None:
        raise RuntimeError(f"live.html has no inline <{tag}>")
    return f"'sha256-{base64.b64encode(hashlib.sha256(match.group(1)).digest()).decode()}'"


_HEADERS: Final = {
    # Nothing runs or loads but the page's own script and style; it connects to its origin
    # alone ('self' covers ws: and wss: there).
    "Content-Security-Policy": "; ".join(
        (
            "default-src 'none'",
            f"script-src {_inline_source('script')}",
            f"style-src {_inline_source('style')}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@router.get("/{analysis_id}/live", name="live_page", include_in_schema=False)
async def live_page(analysis_id: UUID) -> HTMLResponse:
    """The live page: the same for every analysis, the watch token in its ``#token=``."""
    return HTMLResponse(PAGE, headers=_HEADERS)

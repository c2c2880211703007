"""``GET /``: the entity viewer, one self-contained HTML page (``static/viewer.html``).

Why one static file with inline CSS and JavaScript: it must work offline and behind any proxy
with no build step, so it loads nothing from anywhere; the Content-Security-Policy says so
(scripts and styles only by the hashes of the page's own blocks, requests only to this origin).

The page itself is open even when API keys are configured, so a person can reach it and type
a key; every call it makes (``/predict_tokens`` for the highlights, ``/redact`` for the
redacted text under the server's policy, ``/info``) carries that key as a bearer token and
goes through the API's auth like any other client. The server only fills in whether auth is
on (``data-auth`` on ``<body>``, outside the hashed blocks).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Request, Response

from pipeline.http.state import server_state

router = APIRouter()
_AUTH_MARK = "__NER_AUTH__"


def _hashes(html: str, tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)


@cache
def _page() -> tuple[str, str]:
    """The page's template and its Content-Security-Policy (read once)."""
    html = files("pipeline.http").joinpath("static/viewer.html").read_text(encoding="utf-8")
    csp = (f"default-src 'none'; script-src {_hashes(html, 'script')}; style-src {_hashes(html, 'style')}; "
           "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return html, csp


def page(auth_required: bool) -> Response:
    html, csp = _page()
    body = html.replace(_AUTH_MARK, "true" if auth_required else "false", 1)
    return Response(body, media_type="text/html; charset=utf-8", headers={
        "Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
async def viewer(request: Request) -> Response:
    return page(bool(server_state(request).settings.api_key_values()))

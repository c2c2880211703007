"""Optional bearer API keys: ``Authorization: Bearer <key>``, checked before anything else.

No keys configured means no auth (local use). With keys: a missing or malformed header is
``401`` (with ``WWW-Authenticate: Bearer``), an unknown key ``403``. Keys are compared in
constant time. Health, readiness, metrics, the docs and the viewer page (``GET /``) stay open.

The check is a pure ASGI middleware, not a route dependency: FastAPI parses and validates the
body before it solves dependencies, so a dependency would answer an unauthenticated malformed
body with 422 (and would read an unauthenticated 8 MiB upload first). The middleware answers
before the body is read, for every route that is not open, including paths no route matches (so
``POST /predict_tokens/`` without a key is 401, never a redirect or a hint about routes). Its
refusals close the connection, so an unread body cannot hold it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.http.errors import ApiError, ForbiddenError, UnauthorizedError


class ApiKeyAuth:
    """The bearer-token check against the configured keys."""

    def __init__(self, keys: list[bytes]) -> None:
        self.keys = keys

    def refusal(self, header: bytes | None) -> ApiError | None:
        """Why a request with this ``Authorization`` header value is refused, or None."""
        if not header:
            return UnauthorizedError("missing Authorization: Bearer <api key>", field="authorization",
                                     headers={"WWW-Authenticate": "Bearer"})
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return UnauthorizedError("Authorization must be 'Bearer <api key>'", field="authorization",
                                     headers={"WWW-Authenticate": "Bearer"})
        given = token.strip()
        if not any(hmac.compare_digest(given, key) for key in self.keys):
            return ForbiddenError("the API key is not valid", field="authorization")
        return None


class ApiKeyMiddleware:
    """Refuses requests to anything but ``open_routes`` (``(method, path)`` pairs) unless they
    carry a valid key."""

    def __init__(self, app: ASGIApp, keys: list[bytes], open_routes: Iterable[tuple[str, str]],
                 on_refusal: Callable[[ApiError], None] = lambda error: None) -> None:
        self.app = app
        self.auth = ApiKeyAuth(keys)
        self.open_routes = frozenset(open_routes)
        self.on_refusal = on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.auth.keys or (scope["method"], scope["path"]) in self.open_routes:
            await self.app(scope, receive, send)
            return
        header = next((value for name, value in scope["headers"] if name == b"authorization"), None)
        error = self.auth.refusal(header)
        if error is None:
            await self.app(scope, receive, send)
            return
        self.on_refusal(error)
        body = orjson.dumps(error.body())
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items()]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

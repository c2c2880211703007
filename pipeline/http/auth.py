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

A verified key's sha256 is left on ``request.state.api_key_hash`` (:func:`caller_key_hash`):
async jobs record it, and only the same key can read or cancel them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.http.errors import ApiError, ForbiddenError, UnauthorizedError


def key_hash(key: bytes) -> str:
    """sha256 hex of an API key: what is stored about a caller (never the key itself)."""
    return hashlib.sha256(key).hexdigest()


def caller_key_hash(request: Request) -> str | None:
    """The hash of the key this request was authenticated with; None when auth is off."""
    return getattr(request.state, "api_key_hash", None)


class ApiKeyAuth:
    """The bearer-token check against the configured keys."""

    def __init__(self, keys: list[bytes]) -> None:
        self.keys = keys

    def verify(self, header: bytes | None) -> str:
        """The hash of the key in this ``Authorization`` header value; :class:`ApiError` if refused."""
        if not header:
            raise UnauthorizedError("missing Authorization: Bearer <api key>", field="authorization",
                                    headers={"WWW-Authenticate": "Bearer"})
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            raise UnauthorizedError("Authorization must be 'Bearer <api key>'", field="authorization",
                                    headers={"WWW-Authenticate": "Bearer"})
        given = token.strip()
        if not any(hmac.compare_digest(given, key) for key in self.keys):
            raise ForbiddenError("the API key is not valid", field="authorization")
        return key_hash(given)


class ApiKeyMiddleware:
    """Refuses requests to anything but ``open_routes`` (``(method, path)`` pairs) unless they
    carry a valid key; the key's hash goes to ``request.state.api_key_hash``."""

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
        try:
            hashed = self.auth.verify(header)
        except ApiError as error:
            await self._refuse(error, send)
            return
        scope.setdefault("state", {})["api_key_hash"] = hashed
        await self.app(scope, receive, send)

    async def _refuse(self, error: ApiError, send: Send) -> None:
        self.on_refusal(error)
        body = orjson.dumps(error.body())
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items()]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

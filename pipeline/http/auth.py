"""Optional bearer API keys: ``Authorization: Bearer <key>``.

No keys configured means no auth (local use). With keys: a missing or malformed header is
``401`` (with ``WWW-Authenticate: Bearer``), an unknown key ``403``. Keys are compared in
constant time. Health, readiness, metrics and the docs stay open for probes and scrapers.

A verified key's sha256 is left on ``request.state.api_key_hash`` (:func:`caller_key_hash`):
async jobs record it, and only the same key can read or cancel them.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from pipeline.http.errors import ForbiddenError, UnauthorizedError


def key_hash(key: bytes) -> str:
    """sha256 hex of an API key: what is stored about a caller (never the key itself)."""
    return hashlib.sha256(key).hexdigest()


def caller_key_hash(request: Request) -> str | None:
    """The hash of the key this request was authenticated with; None when auth is off."""
    return getattr(request.state, "api_key_hash", None)


class ApiKeyAuth:
    """A FastAPI dependency checking the bearer token against the configured keys."""

    def __init__(self, keys: list[bytes]) -> None:
        self.keys = keys

    async def __call__(self, request: Request) -> None:
        header = request.headers.get("authorization")
        if not header:
            raise UnauthorizedError("missing Authorization: Bearer <api key>", field="authorization",
                                    headers={"WWW-Authenticate": "Bearer"})
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("Authorization must be 'Bearer <api key>'", field="authorization",
                                    headers={"WWW-Authenticate": "Bearer"})
        given = token.strip().encode()
        if not any(hmac.compare_digest(given, key) for key in self.keys):
            raise ForbiddenError("the API key is not valid", field="authorization")
        request.state.api_key_hash = key_hash(given)

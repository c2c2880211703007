"""Two small pure-ASGI middlewares the app wraps every route in: request latency by route
and status (:class:`TimingMiddleware`), and ``HEAD`` served as ``GET`` (:class:`HeadAsGet`).

The other middlewares live with what they enforce (``auth.ApiKeyMiddleware``,
``limits.BodyLimitMiddleware``). See docs/ARCHITECTURE.md (HTTP API).
"""

from __future__ import annotations

import time

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.http.metrics import Metrics


class TimingMiddleware:
    """Request latency by route and status, in the server (pure ASGI: a few microseconds)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route") or self._match(scope)
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.request_seconds.labels(label, str(status)).observe(time.perf_counter() - started)

    def _match(self, scope: Scope):
        """The route of a request answered before routing (a 401 from auth, a 413 from the body
        limit), so it is counted under its route, not ``unmatched``."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match != Match.NONE:
                return route
        return None


class HeadAsGet:
    """``HEAD`` is ``GET`` without the body, on every route (RFC 9110): the app sees ``GET``
    (routing, auth, limits alike) and uvicorn, which keeps the original scope, sends the
    headers only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)

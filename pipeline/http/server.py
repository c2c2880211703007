"""The HTTP server: uvicorn (httptools parser) with a connection guard, configured from settings.

uvicorn gives us a keep-alive timeout and ``limit_concurrency``, but with the httptools parser
nothing bounds how long a client may take to send its request head, nor how many headers or
header bytes it may send, and its refusals (a malformed ``Content-Length``, the concurrency
limit) are plain-text bodies. :class:`GuardedHttpToolsProtocol` adds, per connection:

- a head deadline: once a connection opens, or once any byte arrives while no request is in
  progress, the request line and headers must be complete within ``header_timeout_s``;
- header limits: at most ``max_headers`` headers and ``max_header_bytes`` bytes of request
  line plus headers (counted as they arrive, so a never-ending header is cut off too);
- ``limit_concurrency`` answered in our JSON shape with ``Retry-After``;
- every refusal (400 malformed HTTP, 408, 431, 503) as the API's JSON error body with
  ``Connection: close``. After a refusal the connection is half-closed and what the client
  still sends is read and dropped for up to :data:`LINGER_S` (a "lingering close", as nginx
  does): closing at once, with the client's bytes unread, would reset the connection and could
  destroy the response before the client reads it.

The body deadline and minimum body rate need the request's route (who reads the body) and
live in the app (:class:`pipeline.http.limits.BodyLimitMiddleware`). The subclass relies on
uvicorn internals (``send_400_response``, ``_start_asgi_task``, the cycle's response flags), so
pyproject pins uvicorn's minor version and tests/integration/http/test_abuse.py drives it with
raw sockets.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import structlog
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from pipeline.http.errors import (
    ApiError,
    BadRequestError,
    HeadersTooLargeError,
    RequestTimeoutError,
    ServerBusyError,
)
from pipeline.http.settings import HttpSettings

log = structlog.get_logger(__name__)

#: After a refusal, how long the client's remaining bytes are read and dropped before closing.
LINGER_S = 2.0


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    max_header_bytes: int
    max_headers: int
    limit_concurrency: int | None
    #: told of every refusal (the app's error counter), from the event-loop thread
    on_refusal: Callable[[ApiError], None] = lambda error: None

    @classmethod
    def of(cls, settings: HttpSettings, on_refusal: Callable[[ApiError], None] | None = None) -> ConnectionLimits:
        return cls(settings.header_timeout_s, settings.max_header_bytes, settings.max_headers,
                   settings.limit_concurrency, on_refusal or (lambda error: None))


def error_response(error: ApiError) -> bytes:
    """A complete HTTP/1.1 response carrying ``error``'s JSON body; the connection closes after it."""
    body = orjson.dumps(error.body())
    head = [STATUS_LINE[error.status], b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body), b"connection: close\r\n"]
    head += [f"{name}: {value}\r\n".encode("latin-1") for name, value in error.headers.items()]
    return b"".join(head) + b"\r\n" + body


class _Unavailable:
    """The ASGI app a request gets when the server is over ``limit_concurrency``."""

    def __init__(self, limit: int) -> None:
        error = ServerBusyError("the server is at its concurrency limit; retry shortly", limit=limit,
                                 headers={"Retry-After": "1"})
        self.body = orjson.dumps(error.body())
        self.headers = [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode()),
                        (b"connection", b"close"), (b"retry-after", b"1")]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the head deadline, header limits and JSON refusals."""

    limits: ClassVar[ConnectionLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # checked in _start_asgi_task, answered in JSON
        self._unavailable = _Unavailable(self.limits.limit_concurrency or 0)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # bytes received while the current head is incomplete
        self._header_bytes = 0  # request line + complete headers of the current head
        self._header_count = 0
        self._refusal: ApiError | None = None
        self._lingering = False

    # -- the head deadline -------------------------------------------------------------------
    def _busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._busy():  # a pipelined head waits on our answer, not on the client
            self._arm_head_timer()
            return
        limit = self.limits.header_timeout_s
        self._refuse(RequestTimeoutError(f"the request line and headers did not arrive within {limit:g} s",
                                         field="headers", limit=limit))

    # -- uvicorn hooks ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        if not self._busy():
            self._arm_head_timer()
        super().data_received(data)
        if self._head_timer is not None and not self._lingering and not self.transport.is_closing():
            self._head_bytes += len(data)  # the head is still incomplete: all of it was head
            if self._head_bytes > self.limits.max_header_bytes:
                self._too_large()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = self._header_count = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count(len(url), 0)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, 1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self._head_bytes = 0
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        limit = self.limits.limit_concurrency
        if limit is not None and (len(self.connections) > limit or len(self.tasks) >= limit):
            log.warning("over_concurrency_limit", limit=limit)
            self.limits.on_refusal(ServerBusyError("over the concurrency limit"))
            app = self._unavailable
        super()._start_asgi_task(cycle, app)

    def send_400_response(self, msg: str) -> None:
        """uvicorn calls this when the parser fails, also when a callback of ours refused."""
        refusal, self._refusal = self._refusal, None
        self._refuse(refusal or BadRequestError(
            "the request is not valid HTTP/1.1 (check the request line, Content-Length and Transfer-Encoding)",
            field="headers"))

    # -- refusing --------------------------------------------------------------------------
    def _count(self, size: int, headers: int) -> None:
        self._header_bytes += size
        self._header_count += headers
        if self._header_count > self.limits.max_headers:
            self._refusal = HeadersTooLargeError(
                f"more than {self.limits.max_headers} request headers", field="headers", limit=self.limits.max_headers)
            raise self._refusal  # stops the parser; uvicorn then calls send_400_response
        if self._header_bytes > self.limits.max_header_bytes:
            self._refusal = self._header_bytes_error()
            raise self._refusal

    def _header_bytes_error(self) -> HeadersTooLargeError:
        limit = self.limits.max_header_bytes
        return HeadersTooLargeError(f"the request line and headers exceed {limit} bytes", field="headers",
                                    limit=limit)

    def _too_large(self) -> None:
        self._refuse(self._header_bytes_error())

    def _refuse(self, error: ApiError) -> None:
        """Answer ``error`` and close the connection (lingering); while the app is answering an
        earlier request on this connection, only close it."""
        self._disarm_head_timer()
        if self._lingering or self.transport.is_closing():
            return
        log.info("request_refused", status=error.status, error_type=error.error_type)
        self.limits.on_refusal(error)
        if self._busy() or not self.transport.can_write_eof():
            self.transport.close()
            return
        self._lingering = True
        self.transport.write(error_response(error))
        self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


def protocol_class(settings: HttpSettings, on_refusal: Callable[[ApiError], None] | None = None,
                   ) -> type[GuardedHttpToolsProtocol]:
    """A protocol class bound to ``settings``' limits (uvicorn builds one instance per connection)."""
    limits = ConnectionLimits.of(settings, on_refusal)
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


def uvicorn_config(app: Any, settings: HttpSettings, **overrides: Any) -> uvicorn.Config:
    """The one uvicorn configuration for ``app`` (``ner-stage serve``, ``run`` and the tests):
    the guarded protocol, uvloop when wanted and installed, the keep-alive timeout, no server
    or date header. ``overrides`` are extra ``uvicorn.Config`` arguments (e.g. ``log_level``).
    Refusals count in the app's ``ner_http_errors_total`` when ``app`` is ours."""
    metrics = getattr(getattr(getattr(app, "state", None), "ner", None), "metrics", None)
    on_refusal = (lambda error: metrics.errors.labels(error.error_type).inc()) if metrics is not None else None
    fast = settings.workers_uvloop and importlib.util.find_spec("uvloop") is not None
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "loop": "uvloop" if fast else "asyncio",
        "http": protocol_class(settings, on_refusal), "timeout_keep_alive": settings.keep_alive_timeout_s,
        "access_log": settings.access_log, "log_level": "info", "lifespan": "on",
        "timeout_graceful_shutdown": settings.timeout_graceful_shutdown_s,
        "server_header": False, "date_header": False,
    }
    return uvicorn.Config(app, **(options | overrides))

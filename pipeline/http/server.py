"""The HTTP server: uvicorn (httptools parser) with a connection guard, configured from settings.

uvicorn gives us a keep-alive timeout and ``limit_concurrency``, but with the httptools parser
nothing bounds how long a client may take to send its request head, nor how many headers or
header bytes it may send, and its refusals (a malformed ``Content-Length``, the concurrency
limit) are plain-text bodies. :class:`GuardedHttpToolsProtocol` adds, per connection:

- a head deadline: once a connection opens, or once any byte arrives while no request is in
  progress, the request line and headers must be complete within ``header_timeout_s``;
- header limits: at most ``max_headers`` headers and ``max_header_bytes`` bytes of request
  line plus headers (counted as they arrive, so a never-ending header is cut off too);
- ``limit_concurrency`` counts requests in flight only (answered in our JSON shape with
  ``Retry-After``); the probes (``GET``/``HEAD`` ``/health`` and ``/ready``) are always run;
- idle connections (no request in progress: kept alive, or still sending a head) are limited
  apart, by ``max_idle_connections``: past it the oldest idle one is closed to admit the new
  one, so idle sockets can neither refuse requests nor starve the probes (:class:`IdleConnections`);
- a write deadline: once a response fills the connection's write buffer, the client must
  read it to the end within ``write_timeout_s`` plus its size at ``write_min_rate``, and make
  progress every ``write_timeout_s``; otherwise the connection is aborted and the buffered
  response freed (a client that asks for megabytes and never reads cannot hold them);
- every refusal (400 malformed HTTP, 408, 431, 503) as the API's JSON error body with
  ``Connection: close``. After a refusal the connection is half-closed and what the client
  still sends is read and dropped for up to :data:`LINGER_S` (a "lingering close", as nginx
  does): closing at once, with the client's bytes unread, would reset the connection and could
  destroy the response before the client reads it. Malformed bytes that follow a valid request
  on the same connection (pipelined) are refused after that request's answer, not instead of it.

The body deadline and minimum body rate need the request's route (who reads the body) and
live in the app (:class:`pipeline.http.limits.BodyLimitMiddleware`). The subclass relies on
uvicorn internals (``send_400_response``, ``_start_asgi_task``, the cycle's response flags), so
pyproject pins uvicorn's minor version and tests/integration/http/test_abuse.py drives it with
raw sockets.
"""

from __future__ import annotations

import asyncio
import importlib.util
import resource
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
#: A connection's write buffer pauses the response above this; the write deadline runs while paused.
WRITE_HIGH_WATER = 64 * 1024
#: Requests run even at the concurrency limit: the liveness and readiness probes (cheap, never queued).
PROBES = frozenset({"/health", "/ready"})


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    max_header_bytes: int
    max_headers: int
    limit_concurrency: int | None
    max_idle_connections: int = 1000
    write_timeout_s: float = 15.0
    write_min_rate: int = 16 * 1024
    #: told of every refusal (the app's error counter), from the event-loop thread
    on_refusal: Callable[[ApiError], None] = lambda error: None

    @classmethod
    def of(cls, settings: HttpSettings, on_refusal: Callable[[ApiError], None] | None = None) -> ConnectionLimits:
        return cls(settings.header_timeout_s, settings.max_header_bytes, settings.max_headers,
                   settings.limit_concurrency, settings.max_idle_connections, settings.write_timeout_s,
                   settings.write_min_rate, on_refusal or (lambda error: None))


class IdleConnections:
    """One server's connections that have no request in progress, least recently active first.
    Used from the event-loop thread only."""

    def __init__(self) -> None:
        self._order: dict[GuardedHttpToolsProtocol, None] = {}

    def __len__(self) -> int:
        return len(self._order)

    def idle(self, conn: GuardedHttpToolsProtocol) -> None:
        self._order.pop(conn, None)
        self._order[conn] = None  # the most recently active

    def busy(self, conn: GuardedHttpToolsProtocol) -> None:
        self._order.pop(conn, None)

    def evict_over(self, limit: int) -> None:
        """Close the least recently active idle connections until at most ``limit`` remain."""
        while len(self._order) > limit:
            oldest = next(iter(self._order))
            del self._order[oldest]
            oldest.evict()


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
    idle_connections: ClassVar[IdleConnections]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # checked in _start_asgi_task, answered in JSON
        self._write_timer: asyncio.TimerHandle | None = None
        self._write_deadline = 0.0  # loop time by which the buffered response must be read
        self._write_left = 0  # bytes still buffered at the last write check
        self._deferred: ApiError | None = None  # a refusal waiting for the answer in progress
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

    # -- the write deadline ------------------------------------------------------------------
    def pause_writing(self) -> None:
        """The write buffer is over :data:`WRITE_HIGH_WATER`: the client must now read it all
        (``resume_writing`` comes when it is empty) before the deadline, progressing every
        ``write_timeout_s``."""
        super().pause_writing()
        self._start_write_deadline()

    def _start_write_deadline(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
        now, limits = self.loop.time(), self.limits
        self._write_left = self.transport.get_write_buffer_size()
        allowance = self._write_left / limits.write_min_rate if limits.write_min_rate else float("inf")
        self._write_deadline = now + limits.write_timeout_s + allowance
        self._arm_write_timer(now)

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().resume_writing()

    def _arm_write_timer(self, now: float) -> None:
        delay = min(self.limits.write_timeout_s, self._write_deadline - now)
        self._write_timer = self.loop.call_later(max(0.0, delay), self._write_check)

    def _write_check(self) -> None:
        self._write_timer = None
        now, left = self.loop.time(), self.transport.get_write_buffer_size()
        if left == 0:  # all read
            return
        if now < self._write_deadline and left < self._write_left:
            self._write_left = left  # progress: check again
            self._arm_write_timer(now)
            return
        limit = self.limits.write_timeout_s
        log.info("slow_reader_cut", unread_bytes=left, write_timeout_s=limit)
        self.limits.on_refusal(RequestTimeoutError(
            f"the client did not read its response in time (write_timeout_s {limit:g})", field="response",
            limit=limit))
        self.transport.abort()  # drops the buffered response now

    # -- idle connections ------------------------------------------------------------------
    def evict(self) -> None:
        """Closed to make room for a newer connection (an unread response is dropped)."""
        if self.transport.get_write_buffer_size() or self.transport.is_closing():
            self.transport.abort()
        else:
            self.transport.close()

    # -- uvicorn hooks ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=0)
        self._arm_head_timer()
        self.idle_connections.idle(self)
        self.idle_connections.evict_over(self.limits.max_idle_connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self.idle_connections.busy(self)
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        if self._write_timer is None and self.transport.get_write_buffer_size():
            self._start_write_deadline()  # the end of a response is still unread (under the high-water mark)
        super().on_response_complete()
        if self._busy():  # a pipelined request started
            return
        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            self._refuse(error)
        elif not self.transport.is_closing():
            self.idle_connections.idle(self)

    def data_received(self, data: bytes) -> None:
        if self._lingering or self._deferred is not None:
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
        for name, value in self.headers:
            if name == b"transfer-encoding" and value.strip().lower() != b"chunked":
                self._refusal = BadRequestError(  # RFC 9112 6.1: the only coding a request may use here
                    "Transfer-Encoding must be exactly 'chunked' (no other transfer coding is accepted)",
                    field="headers", limit="chunked")
                raise self._refusal  # stops the parser; uvicorn then calls send_400_response
        self.idle_connections.busy(self)
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        limit = self.limits.limit_concurrency
        probe = cycle.scope["path"] in PROBES and cycle.scope["method"] in ("GET", "HEAD")
        if limit is not None and len(self.tasks) >= limit and not probe:
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
        """Answer ``error`` and close the connection (lingering). While the app is answering an
        earlier, complete request on this connection, the refusal waits for that answer (reading
        stops). When the request in progress is itself malformed (its body's framing) and not yet
        answered, the app sees the client gone and the client gets the refusal."""
        self._disarm_head_timer()
        if self._lingering or self._deferred is not None or self.transport.is_closing():
            return
        answering = self._busy()
        if answering and not self.cycle.more_body:
            self._deferred = error  # bytes after a complete request: answer that request first
            self.flow.pause_reading()
            return
        if answering and not self.cycle.response_started:
            self.cycle.disconnected = True  # what the app still sends is dropped
            self.cycle.message_event.set()
            answering = False
        log.info("request_refused", status=error.status, error_type=error.error_type)
        self.limits.on_refusal(error)
        if answering or not self.transport.can_write_eof():
            self.transport.close()
            return
        self._unset_keepalive_if_required()
        self._lingering = True
        self.transport.write(error_response(error))
        self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


def protocol_class(settings: HttpSettings, on_refusal: Callable[[ApiError], None] | None = None,
                   ) -> type[GuardedHttpToolsProtocol]:
    """A protocol class bound to ``settings``' limits (uvicorn builds one instance per connection)."""
    limits = ConnectionLimits.of(settings, on_refusal)
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,),
                {"limits": limits, "idle_connections": IdleConnections()})


def raise_open_file_limit(settings: HttpSettings) -> int:
    """Raise the process's soft open-file limit (up to the hard one) to hold every connection
    the limits admit: ``max_idle_connections`` + ``limit_concurrency`` + a margin for the
    model, the database and the logs. Returns the soft limit now in force."""
    wanted = settings.max_idle_connections + (settings.limit_concurrency or 0) + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning("open_file_limit_low", limit=soft, wanted=wanted)
    return soft


def uvicorn_config(app: Any, settings: HttpSettings, **overrides: Any) -> uvicorn.Config:
    """The one uvicorn configuration for ``app`` (``ner-stage serve``, ``run`` and the tests):
    the guarded protocol, uvloop when wanted and installed, the keep-alive timeout, no server
    or date header. ``overrides`` are extra ``uvicorn.Config`` arguments (e.g. ``log_level``).
    Refusals count in the app's ``ner_http_errors_total`` when ``app`` is ours."""
    metrics = getattr(getattr(getattr(app, "state", None), "ner", None), "metrics", None)
    on_refusal = (lambda error: metrics.errors.labels(error.error_type).inc()) if metrics is not None else None
    fast = settings.workers_uvloop and importlib.util.find_spec("uvloop") is not None
    raise_open_file_limit(settings)
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "loop": "uvloop" if fast else "asyncio",
        "http": protocol_class(settings, on_refusal), "timeout_keep_alive": settings.keep_alive_timeout_s,
        "access_log": settings.access_log, "log_level": "info", "lifespan": "on",
        "timeout_graceful_shutdown": settings.timeout_graceful_shutdown_s,
        "server_header": False, "date_header": False,
    }
    return uvicorn.Config(app, **(options | overrides))

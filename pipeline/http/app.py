"""The ASGI app factory: ``create_app(settings, service=None)``.

Start-up order (lifespan): open (and migrate) the job store, load and warm the model (unless a
service is given, e.g. by tests or ``ner-stage run``), start the batcher thread, recover and
start the job runner, then report ready. Shutdown (SIGTERM via uvicorn) reverses it: stop
accepting jobs and hand the running ones back to the queue, let the batcher finish what is
queued, close the store. Jobs of a process that died are taken over when their lease runs out
(or at once by the next start, with the one-process SQLite store).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson
import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engines.errors import EngineError, NerStageError
from pipeline.config import DecodeSettings, ModelSettings
from pipeline.errors import Unavailable
from pipeline.http import hf_api, viewer
from pipeline.http.auth import ApiKeyMiddleware
from pipeline.http.batcher import Batcher
from pipeline.http.callbacks import CallbackSender
from pipeline.http.errors import (
    MAX_FIELD_CHARS,
    RequestInvalidError,
    clip,
    error_body,
    error_headers,
    status_of,
)
from pipeline.http.jobs import JobStore, JobStoreError, open_job_store
from pipeline.http.limits import BodyLimitMiddleware, BodyTimeout, BodyTooLarge, check_texts
from pipeline.http.metrics import Metrics
from pipeline.http.routes import api, batched, ops
from pipeline.http.runner import JobRunner
from pipeline.http.settings import HttpSettings
from pipeline.http.ssrf import CallbackGuard
from pipeline.redact import Redactor, RedactSettings
from pipeline.redact.http import create_router as redact_router
from pipeline.service import NerService

log = structlog.get_logger(__name__)


@dataclass
class ServerState:
    settings: HttpSettings
    metrics: Metrics
    guard: CallbackGuard
    service: NerService | None = None
    batcher: Batcher | None = None
    redactor: Redactor | None = None
    store: JobStore | None = None
    runner: JobRunner | None = None
    ready: bool = False
    #: ``/predict_tokens`` requests between validation and answer (decides inline vs batched).
    predicting: int = 0
    extras: dict = field(default_factory=dict)


class _TimingMiddleware:
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


class _HeadAsGet:
    """``HEAD`` is ``GET`` without the body, on every route (RFC 9110): the app sees ``GET``
    (routing, auth, limits alike) and uvicorn, which keeps the original scope, sends the
    headers only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


def _error_response(state: ServerState, exc: BaseException) -> Response:
    """The one way an error becomes a response: status and ``error_type`` from the table in
    ``pipeline.http.errors``, the documented body, the error's own headers (Retry-After...)."""
    status, error_type = status_of(exc)
    state.metrics.errors.labels(error_type).inc()
    if status == 499:  # the client has gone: nobody reads a body
        return Response(status_code=status)
    return Response(orjson.dumps(error_body(exc)), status_code=status, media_type="application/json",
                    headers=error_headers(exc))


#: pydantic error-context keys that state a limit, in the order we report them.
_LIMIT_KEYS = ("limit", "le", "lt", "ge", "gt", "max_length", "min_length", "expected", "multiple_of")


def _field_path(loc: tuple) -> str:
    """``("body", "inputs", 3)`` -> ``inputs[3]``; union-branch tags like ``list[str]`` are dropped."""
    field = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(part, int):
            field += f"[{part}]"
        elif "[" in part or part in ("str", "int", "float", "bool", "dict", "list", "none"):
            continue
        else:
            field += f".{part}" if field else part
    return field or "body"


#: One answer for a body that is not JSON, whether its bytes are not UTF-8 or its syntax is broken.
_NOT_JSON = "body: the body is not a JSON document (UTF-8)"


def _validation_error(exc: RequestValidationError) -> RequestInvalidError:
    errors = exc.errors()
    first = errors[0] if errors else {}
    ctx = first.get("ctx") or {}
    if first.get("type") == "json_invalid":
        return RequestInvalidError(_NOT_JSON, field="body")
    # the path may hold client-chosen keys: clipped before it is quoted in the message too
    field = clip(str(ctx.get("field") or _field_path(tuple(first.get("loc", ())))), MAX_FIELD_CHARS)
    limit = next((ctx[k] for k in _LIMIT_KEYS if k in ctx), None)
    if not isinstance(limit, int | float | str | list | type(None)):
        limit = str(limit)
    message = first.get("msg", "invalid request")
    return RequestInvalidError(f"{field}: {message}", field=field, limit=limit)


def _install_error_handlers(app: FastAPI, state: ServerState) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        return _error_response(state, _validation_error(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        if isinstance(exc, BodyTooLarge | BodyTimeout):
            return _error_response(state, exc.error())
        if exc.status_code == 400:  # FastAPI could not decode the body (e.g. bytes that are not UTF-8)
            return _error_response(state, RequestInvalidError(_NOT_JSON, field="body"))
        # Starlette's own (unknown route, wrong method): same shape, its status
        state.metrics.errors.labels("http").inc()
        field = {400: "body", 404: "path", 405: "method"}.get(exc.status_code)
        body = {"error": clip(str(exc.detail)), "error_type": "http", "field": field, "limit": None}
        return Response(orjson.dumps(body), status_code=exc.status_code, media_type="application/json",
                        headers=dict(exc.headers or {}))

    @app.exception_handler(NerStageError)
    async def ner_error(_: Request, exc: NerStageError) -> Response:
        if isinstance(exc, EngineError | JobStoreError):
            log.error("request_failed", error=type(exc).__name__, reason=str(exc)[:200])
        elif status_of(exc)[0] == 500:
            log.error("request_failed", error=type(exc).__name__)
        return _error_response(state, exc)

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> Response:
        """Our bug: still the JSON shape (Starlette re-raises it afterwards, so it is logged)."""
        return _error_response(state, exc)


async def _require_ready(request: Request) -> None:
    if not request.app.state.ner.ready:
        raise Unavailable("the model is still loading or the server is shutting down", retry_after=1)


def create_app(settings: HttpSettings | None = None, service: NerService | None = None,
               model_settings: ModelSettings | None = None, redact_settings: RedactSettings | None = None,
               decode_settings: DecodeSettings | None = None) -> FastAPI:
    """Build the app. Without ``service`` the model named by ``model_settings`` is loaded at start-up.

    ``/redact`` (the redaction package's router) redacts with a :class:`Redactor` built from
    ``redact_settings`` (default: ``RedactSettings.load()``); its model spans come from the same
    batcher as ``/predict_tokens``."""
    settings = settings or HttpSettings.load()
    redact_settings = redact_settings or RedactSettings.load()
    metrics = Metrics()
    state = ServerState(settings=settings, metrics=metrics, guard=CallbackGuard(settings.callback_allow_list),
                        redactor=Redactor.from_settings(redact_settings))

    async def model_spans(request: Request, texts: list[str]) -> list:
        return await batched(request, state.batcher.entities(texts))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.store = await asyncio.to_thread(open_job_store, settings.jobs_db, max_queued=settings.max_queued_jobs,
                                              pool_size=settings.jobs_db_pool_size,
                                              wait_s=settings.jobs_db_timeout_s, breaker_s=settings.jobs_db_breaker_s)
        try:
            svc = service
            if svc is None:
                svc = await asyncio.to_thread(NerService.from_settings, model_settings or ModelSettings.load(),
                                              decode_settings or DecodeSettings.load())
            svc.add_batch_listener(metrics.on_engine_batch)
            state.service = svc
            state.batcher = Batcher(svc, max_batch_tokens=settings.batch_max_tokens,
                                    max_wait_s=settings.batch_max_wait_ms / 1e3,
                                    max_queue=settings.max_queue_requests, inline_max_chars=settings.inline_max_chars,
                                    max_engine_s=settings.request_max_engine_s, on_round=metrics.on_round)
            state.batcher.start()
            secret = settings.callback_secret.get_secret_value().encode() if settings.callback_secret else None
            sender = CallbackSender(state.guard, secret, timeout_s=settings.callback_timeout_s)
            state.runner = JobRunner(state.store, state.batcher, sender, settings, metrics)
            await state.runner.start()
            state.ready = True
            log.info("server_ready", model=svc.bundle.name, engine=svc.engine.name)
            yield
        finally:
            state.ready = False
            if state.runner is not None:
                await state.runner.stop()
            if state.batcher is not None:
                await asyncio.to_thread(state.batcher.stop)
            await asyncio.to_thread(state.store.close)
            log.info("server_stopped")

    # redirect_slashes=False: one path per route, and no redirect answered to anyone (with or without a key)
    app = FastAPI(title="ner-stage", version="1", lifespan=lifespan, docs_url="/docs", redoc_url=None,
                  redirect_slashes=False,
                  description="Named-entity recognition: BEI-compatible /predict_tokens, async jobs with signed "
                              "callbacks. Errors are {error, error_type, field, limit}.")
    app.state.ner = state
    dependencies = [Depends(_require_ready)]
    app.include_router(api, dependencies=dependencies)
    app.include_router(redact_router(lambda: state.redactor, model_spans if redact_settings.model_spans else None,
                                     check_texts=lambda texts: check_texts(texts, settings)),
                       dependencies=dependencies)
    app.include_router(hf_api.router, dependencies=dependencies)
    app.include_router(ops)
    app.include_router(viewer.router)  # the page is open (see open_routes); the API calls it makes carry the key
    _install_error_handlers(app, state)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes,
                       body_timeout_s=settings.body_timeout_s, body_min_rate=settings.body_min_rate)
    # API keys are checked before the body is read, on every route but the open ones (the probes,
    # the docs, the viewer page): (method, path) pairs, since GET / is open and POST / is not
    open_routes = {(method, route.path) for router in (ops, viewer.router) for route in router.routes
                   for method in route.methods}
    open_routes |= {("GET", path) for path in (app.docs_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url)}
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_key_values(), open_routes=open_routes,
                       on_refusal=lambda error: metrics.errors.labels(error.error_type).inc())
    app.add_middleware(_TimingMiddleware, metrics=metrics, routes=app.router.routes)
    app.add_middleware(_HeadAsGet)
    return app

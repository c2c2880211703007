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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engines.errors import EngineError, NerStageError
from pipeline.config import ModelSettings
from pipeline.errors import InputError, TextTooLongError
from pipeline.http import hf_api, viewer
from pipeline.http.auth import ApiKeyMiddleware
from pipeline.http.batcher import BatchedSpanSource, Batcher
from pipeline.http.callbacks import CallbackSender
from pipeline.http.errors import (
    MAX_FIELD_CHARS,
    ApiError,
    ClientGoneError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    QueueFullError,
    RequestInvalidError,
    UnavailableError,
    clip,
)
from pipeline.http.jobs import (
    JobConflictError,
    JobError,
    JobNotFoundError,
    JobQueueFullError,
    JobStore,
    JobStoreError,
    open_job_store,
)
from pipeline.http.limits import BodyLimitMiddleware, BodyTimeout, BodyTooLarge
from pipeline.http.metrics import Metrics
from pipeline.http.routes import api, ops
from pipeline.http.runner import JobRunner
from pipeline.http.settings import HttpSettings
from pipeline.http.ssrf import CallbackGuard
from pipeline.redact import Redactor, RedactSettings
from pipeline.redact.http import router as redact_router
from pipeline.service import NerService

log = structlog.get_logger(__name__)


@dataclass
class ServerState:
    settings: HttpSettings
    metrics: Metrics
    guard: CallbackGuard
    service: NerService | None = None
    batcher: Batcher | None = None
    store: JobStore | None = None
    runner: JobRunner | None = None
    ready: bool = False
    #: ``/predict_tokens`` requests between validation and answer (decides inline vs batched).
    predicting: int = 0
    extras: dict = field(default_factory=dict)


class _TimingMiddleware:
    """Request latency by route and status, in the server (pure ASGI: a few microseconds)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

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
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.request_seconds.labels(label, str(status)).observe(time.perf_counter() - started)


def _error_response(state: ServerState, exc: ApiError) -> Response:
    state.metrics.errors.labels(exc.error_type).inc()
    return Response(orjson.dumps(exc.body()), status_code=exc.status, media_type="application/json",
                    headers=exc.headers)


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


def _job_error(exc: JobError) -> ApiError:
    """The HTTP face of a job-store error (the store raises domain errors only)."""
    if isinstance(exc, JobQueueFullError):
        return QueueFullError(str(exc), retry_after=exc.retry_after, limit=exc.limit)
    if isinstance(exc, JobStoreError):
        log.error("jobs_db_error", error=str(exc))
        return UnavailableError("the jobs database is unavailable; retry later", headers={"Retry-After": "5"})
    kind = {JobNotFoundError: NotFoundError, JobConflictError: ConflictError}.get(type(exc), ApiError)
    return kind(str(exc), field=exc.field, limit=exc.limit)


def _install_error_handlers(app: FastAPI, state: ServerState) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        return _error_response(state, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        return _error_response(state, _validation_error(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        if isinstance(exc, BodyTooLarge | BodyTimeout):
            return _error_response(state, exc.error())
        if exc.status_code == 400:  # FastAPI could not decode the body (e.g. bytes that are not UTF-8)
            return _error_response(state, RequestInvalidError(_NOT_JSON, field="body"))
        field = {400: "body", 404: "path", 405: "method"}.get(exc.status_code)
        error = ApiError(str(exc.detail), field=field, headers=dict(exc.headers or {}))
        error.status = exc.status_code
        error.error_type = "http"
        return _error_response(state, error)

    @app.exception_handler(ClientGoneError)
    async def gone(_: Request, exc: ClientGoneError) -> Response:
        state.metrics.errors.labels("client_gone").inc()
        return Response(status_code=499)

    @app.exception_handler(NerStageError)
    async def ner_error(_: Request, exc: NerStageError) -> Response:
        if isinstance(exc, TextTooLongError):
            limit = state.service.max_chars if state.service else None
            return _error_response(state, PayloadTooLargeError(str(exc), field=exc.field, limit=limit))
        if isinstance(exc, JobError):
            return _error_response(state, _job_error(exc))
        if isinstance(exc, InputError):
            return _error_response(state, RequestInvalidError(str(exc), field=exc.field))
        if isinstance(exc, EngineError):
            log.error("engine_error", error=type(exc).__name__)
            return _error_response(state, UnavailableError("the inference engine failed"))
        log.error("request_failed", error=type(exc).__name__)
        error = ApiError("internal error")
        return _error_response(state, error)

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> Response:
        """Our bug: still the JSON shape (Starlette re-raises it afterwards, so it is logged)."""
        return _error_response(state, ApiError("internal error"))


async def _require_ready(request: Request) -> None:
    if not request.app.state.ner.ready:
        raise UnavailableError("the model is still loading or the server is shutting down",
                               headers={"Retry-After": "1"})


def create_app(settings: HttpSettings | None = None, service: NerService | None = None,
               model_settings: ModelSettings | None = None, redact_settings: RedactSettings | None = None) -> FastAPI:
    """Build the app. Without ``service`` the model named by ``model_settings`` is loaded at start-up.

    ``/redact`` (the redaction package's router) runs on a :class:`Redactor` whose span source
    is the same service behind the same batcher, built from ``redact_settings`` (default: ``RedactSettings.load()``)."""
    settings = settings or HttpSettings.load()
    metrics = Metrics()
    state = ServerState(settings=settings, metrics=metrics, guard=CallbackGuard(settings.callback_allow_list))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.store = await asyncio.to_thread(open_job_store, settings.jobs_db, max_queued=settings.max_queued_jobs,
                                              pool_size=settings.jobs_db_pool_size)
        try:
            svc = service
            if svc is None:
                svc = await asyncio.to_thread(NerService.from_settings, model_settings or ModelSettings.load())
            svc.add_batch_listener(metrics.on_engine_batch)
            state.service = svc
            state.batcher = Batcher(svc, max_batch_tokens=settings.batch_max_tokens,
                                    max_wait_s=settings.batch_max_wait_ms / 1e3,
                                    max_queue=settings.max_queue_requests, inline_max_chars=settings.inline_max_chars,
                                    on_round=metrics.on_round)
            spans = BatchedSpanSource(state.batcher, asyncio.get_running_loop())
            app.state.redactor = Redactor.from_settings(redact_settings or RedactSettings.load(), span_source=spans)
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
    app.include_router(redact_router, dependencies=dependencies)
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
    open_routes |= {(method, path) for path in (app.docs_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url)
                    for method in ("GET", "HEAD")}
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_key_values(), open_routes=open_routes,
                       on_refusal=lambda error: metrics.errors.labels(error.error_type).inc())
    app.add_middleware(_TimingMiddleware, metrics=metrics)
    return app

"""The ASGI app factory, ``create_app(settings, service=None)``: it only assembles the parts
(state, routes, error handlers, middlewares) and runs the lifespan.

Start-up order (lifespan): open (and migrate) the job store, load and warm the model (unless a
service is given, e.g. by tests or ``ner-stage run``), start the batcher thread, recover and
start the job runner, then report ready. Shutdown (SIGTERM via uvicorn) reverses it. See
docs/ARCHITECTURE.md (HTTP API).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI, Request

from pipeline.config import DecodeSettings, ModelSettings
from pipeline.errors import Unavailable
from pipeline.http import hf_api, viewer
from pipeline.http.auth import ApiKeyMiddleware
from pipeline.http.batcher import Batcher
from pipeline.http.callbacks import CallbackSender
from pipeline.http.error_handlers import install_error_handlers
from pipeline.http.jobs import open_job_store
from pipeline.http.limits import BodyLimitMiddleware, check_texts
from pipeline.http.metrics import Metrics
from pipeline.http.middleware import HeadAsGet, TimingMiddleware
from pipeline.http.redact_api import create_router as redact_router
from pipeline.http.routes import api, ops
from pipeline.http.runner import JobRunner
from pipeline.http.settings import HttpSettings
from pipeline.http.ssrf import CallbackGuard
from pipeline.http.state import ServerState, batched, server_state
from pipeline.redact import Redactor, RedactSettings
from pipeline.service import NerService

log = structlog.get_logger(__name__)


async def _require_ready(request: Request) -> None:
    if not server_state(request).ready:
        raise Unavailable("the model is still loading or the server is shutting down", retry_after=1)


def create_app(settings: HttpSettings | None = None, service: NerService | None = None,
               model_settings: ModelSettings | None = None, redact_settings: RedactSettings | None = None,
               decode_settings: DecodeSettings | None = None) -> FastAPI:
    """Build the app. Without ``service`` the model named by ``model_settings`` is loaded at start-up.

    ``/redact`` (:mod:`pipeline.http.redact_api`) redacts with a :class:`Redactor` built from
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
    install_error_handlers(app, metrics)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes,
                       body_timeout_s=settings.body_timeout_s, body_min_rate=settings.body_min_rate)
    # API keys are checked before the body is read, on every route but the open ones (the probes,
    # the docs, the viewer page): (method, path) pairs, since GET / is open and POST / is not
    open_routes = {(method, route.path) for router in (ops, viewer.router) for route in router.routes
                   for method in route.methods}
    open_routes |= {("GET", path) for path in (app.docs_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url)}
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_key_values(), open_routes=open_routes,
                       on_refusal=lambda error: metrics.errors.labels(error.error_type).inc())
    app.add_middleware(TimingMiddleware, metrics=metrics, routes=app.router.routes)
    app.add_middleware(HeadAsGet)
    return app

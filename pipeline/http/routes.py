"""Routes: ``/predict_tokens``, async jobs, and the operational endpoints.

Handlers stay thin: validate (pydantic + :mod:`limits`), hand work to the batcher, return the
JSON bytes it produced (serialized off the event loop; no second validation of the response).
See docs/ARCHITECTURE.md (HTTP API).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import uuid

import orjson
from fastapi import APIRouter, Request, Response

from pipeline.errors import Unavailable
from pipeline.http.auth import caller_key_hash
from pipeline.http.errors import ERROR_RESPONSES, CallbackRefusedError
from pipeline.http.jobs import Job
from pipeline.http.limits import to_work
from pipeline.http.state import JSON, batched, server_state
from schemas.http import (
    AsyncPredictRequest,
    ErrorBody,
    Health,
    Info,
    JobAccepted,
    JobStatus,
    PredictRequest,
    PredictResponse,
)

api = APIRouter()
ops = APIRouter()


@api.post("/predict_tokens", response_model=PredictResponse, responses=ERROR_RESPONSES, tags=["inference"],
          summary="Token classification (BEI-compatible)")
async def predict_tokens(body: PredictRequest, request: Request) -> Response:
    """One list of items per input, in order. With ``aggregation_strategy`` 'none' (BEI's default)
    every token with every label's score; otherwise entity spans. Texts longer than the model
    window are processed in overlapping windows unless ``truncate`` is true."""
    state = server_state(request)
    texts, options = to_work(body, state.settings)
    state.predicting += 1
    try:
        # One loop turn lets requests that arrived together reach this point too; only a request
        # that is still alone may run inline, the others go to the batcher and are merged.
        await asyncio.sleep(0)
        answer = state.batcher.run_inline(texts, options) if state.predicting == 1 else None
        if answer is None:
            answer = await batched(request, state.batcher.submit(texts, options))
    finally:
        state.predicting -= 1
    return Response(answer, media_type=JSON)


def _job_status(job: Job) -> dict:
    doc: dict = {
        "job_id": job.id, "status": job.status, "created_at": job.created_at, "updated_at": job.updated_at,
        "result": orjson.Fragment(job.result) if job.result else None,
        "error": orjson.Fragment(job.error) if job.error else None,
        "metadata": orjson.Fragment(job.metadata) if job.metadata else None,
        "callback": {"url": job.callback_url, "status": job.delivery, "attempts": job.attempts,
                     "last_error": job.last_error},
    }
    return doc


@api.post("/async/predict_tokens", status_code=202, response_model=JobAccepted, responses=ERROR_RESPONSES,
          tags=["async jobs"], summary="Submit a predict job; the result is POSTed to callback_url")
async def submit_job(body: AsyncPredictRequest, request: Request) -> Response:
    """Accepted jobs are durable: they complete (and their callback is delivered) even if the
    server restarts. Callback URLs must resolve to public addresses unless allow-listed."""
    state = server_state(request)
    to_work(body, state.settings)  # same limits as the sync route, refused now rather than later
    if body.callback_url is not None:
        if state.settings.callback_secret is None:
            raise CallbackRefusedError("callback_url: callbacks are disabled on this server (no callback_secret "
                                       "is configured); poll status_url instead", field="callback_url")
        await state.guard.check(body.callback_url)
    job_id = uuid.uuid4().hex
    request_json = body.model_dump_json(exclude={"callback_url", "metadata"}).encode()
    metadata = orjson.dumps(body.metadata) if body.metadata is not None else None
    job = await state.store.call(state.store.create, job_id, request_json, body.callback_url, metadata,
                                 key_hash=caller_key_hash(request))
    state.runner.wake()
    accepted = {"job_id": job.id, "status": job.status, "status_url": f"/jobs/{job.id}"}
    return Response(orjson.dumps(accepted), status_code=202, media_type=JSON,
                    headers={"Location": accepted["status_url"]})


@api.get("/jobs/{job_id}", response_model=JobStatus, responses=ERROR_RESPONSES | {404: {"model": ErrorBody}},
         tags=["async jobs"], summary="Job status, and its result or error once finished")
async def get_job(job_id: str, request: Request) -> Response:
    """Any replica answers; a job created with another API key is a 404, as a missing one."""
    store = server_state(request).store
    job = await store.call(store.require, job_id, caller_key_hash(request))
    return Response(orjson.dumps(_job_status(job)), media_type=JSON)


@api.delete("/jobs/{job_id}", response_model=JobStatus,
            responses=ERROR_RESPONSES | {404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
            tags=["async jobs"], summary="Cancel a queued or running job")
async def cancel_job(job_id: str, request: Request) -> Response:
    """Any replica cancels; the replica running the job stops its engine work within
    ``job_poll_s``. A job created with another API key is a 404."""
    job = await server_state(request).runner.cancel(job_id, caller_key_hash(request))
    return Response(orjson.dumps(_job_status(job)), media_type=JSON)


@api.get("/info", response_model=Info, tags=["operations"], summary="Model, engine and limits")
async def info(request: Request) -> Info:
    state = server_state(request)
    service, settings = state.service, state.settings
    try:
        version = importlib.metadata.version("ner-stage")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return Info(model=service.bundle.name, revision=service.bundle.revision, engine=service.engine.name,
                labels=list(service.labels), max_tokens=service.engine.max_seq_len,
                max_batch_tokens=state.batcher.max_batch_tokens, max_inputs=settings.max_inputs,
                max_text_chars=settings.max_text_chars, max_body_bytes=settings.max_body_bytes,
                async_callbacks=settings.callback_secret is not None, version=version)


@ops.get("/health", response_model=Health, tags=["operations"], summary="Liveness")
async def health() -> Health:
    return Health(status="ok")


@ops.get("/ready", response_model=Health, responses={503: {"model": ErrorBody}}, tags=["operations"],
         summary="Readiness: model loaded and warmed, not shutting down")
async def ready(request: Request) -> Health:
    if not server_state(request).ready:
        raise Unavailable("not ready")
    return Health(status="ready")


@ops.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    from pipeline.http.metrics import CONTENT_TYPE

    state = server_state(request)
    return Response(state.metrics.render(state.batcher.depth), media_type=CONTENT_TYPE)

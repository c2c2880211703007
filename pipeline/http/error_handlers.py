"""How an exception becomes an HTTP response: the app's exception handlers.

Status and ``error_type`` come from the one table in :mod:`pipeline.http.errors`; this module
turns FastAPI's and Starlette's own errors (validation, undecodable bodies, unknown routes)
into the same ``{error, error_type, field, limit}`` body. See docs/ARCHITECTURE.md (Errors).
"""

from __future__ import annotations

import orjson
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from engines.errors import EngineError, NerStageError
from pipeline.http.errors import MAX_FIELD_CHARS, RequestInvalidError, clip, error_body, error_headers, status_of
from pipeline.http.jobs import JobStoreError
from pipeline.http.limits import BodyTimeout, BodyTooLarge
from pipeline.http.metrics import Metrics

log = structlog.get_logger(__name__)


def _error_response(metrics: Metrics, exc: BaseException) -> Response:
    """The one way an error becomes a response: status and ``error_type`` from the table in
    ``pipeline.http.errors``, the documented body, the error's own headers (Retry-After...)."""
    status, error_type = status_of(exc)
    metrics.errors.labels(error_type).inc()
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


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        return _error_response(metrics, _validation_error(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        if isinstance(exc, BodyTooLarge | BodyTimeout):
            return _error_response(metrics, exc.error())
        if exc.status_code == 400:  # FastAPI could not decode the body (e.g. bytes that are not UTF-8)
            return _error_response(metrics, RequestInvalidError(_NOT_JSON, field="body"))
        # Starlette's own (unknown route, wrong method): same shape, its status
        metrics.errors.labels("http").inc()
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
        return _error_response(metrics, exc)

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> Response:
        """Our bug: still the JSON shape (Starlette re-raises it afterwards, so it is logged)."""
        return _error_response(metrics, exc)

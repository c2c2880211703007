"""Request limits: body size (before reading it), inputs per request, characters per text.

The body limit is a pure ASGI middleware so an oversized upload is refused from its
``Content-Length`` before a byte is read, and a chunked one as soon as it crosses the limit.
The same middleware reads form-encoded or untyped bodies as JSON (``curl -d`` works).
The other limits need the parsed request and are checked by :func:`to_work`, which also turns
a request into what the batcher runs. Every refusal names the field and the limit.
"""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.http.errors import PayloadTooLargeError, RequestInvalidError
from pipeline.http.settings import HttpSettings
from pipeline.service import PredictOptions
from schemas.http import PredictRequest


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` (an HTTPException, so FastAPI's body parsing lets it through)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit

    def error(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(str(self.detail), field="body", limit=self.limit)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        for name, value in headers:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await _send_json(send, 413, BodyTooLarge(self.limit).error().body())
                    return
                break
        if scope["method"] in ("POST", "PUT", "PATCH"):
            scope = _as_json(scope)
        limit = self.limit
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


_FORM = b"application/x-www-form-urlencoded"


def _as_json(scope: Scope) -> Scope:
    """Every body this API takes is JSON: one sent without a content type or form-encoded
    (``curl -d '{...}'``) is read as JSON instead of failing on its media type."""
    headers = scope["headers"]
    kinds = [value.split(b";", 1)[0].strip().lower() for name, value in headers if name == b"content-type"]
    if kinds and kinds[0] not in (_FORM, b""):
        return scope
    kept = [(name, value) for name, value in headers if name != b"content-type"]
    return {**scope, "headers": [*kept, (b"content-type", b"application/json")]}


async def _send_json(send: Send, status: int, body: dict) -> None:
    payload = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


def texts_of(request: PredictRequest, settings: HttpSettings) -> list[str]:
    """The request's texts, flattened from BEI's ``[["text"], ...]``, checked against limits."""
    inputs = request.inputs
    if isinstance(inputs, str):
        texts = [inputs]
    else:
        texts = []
        for i, item in enumerate(inputs):
            if isinstance(item, list):
                if len(item) != 1:
                    raise RequestInvalidError(
                        f"inputs[{i}] must hold exactly one text (token classification takes no text pairs)",
                        field=f"inputs[{i}]", limit=1)
                item = item[0]
            texts.append(item)
    if not texts:
        raise RequestInvalidError("inputs must hold at least one text", field="inputs", limit=settings.max_inputs)
    if len(texts) > settings.max_inputs:
        raise PayloadTooLargeError(f"inputs holds {len(texts)} texts; the limit is {settings.max_inputs}",
                                   field="inputs", limit=settings.max_inputs)
    for i, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise PayloadTooLargeError(
                f"inputs[{i}] has {len(text)} characters; the limit is {settings.max_text_chars}",
                field=f"inputs[{i}]", limit=settings.max_text_chars)
    return texts


def options_of(request: PredictRequest) -> PredictOptions:
    return PredictOptions(
        aggregation=request.aggregation_strategy, raw_scores=request.raw_scores, truncate=request.truncate,
        truncation_direction=request.truncation_direction, threshold=request.threshold,
        label_thresholds=dict(request.label_thresholds), ignore_labels=tuple(request.ignore_labels),
        merge_adjacent=request.merge_adjacent,
    )


def to_work(request: PredictRequest, settings: HttpSettings) -> tuple[list[str], PredictOptions]:
    return texts_of(request, settings), options_of(request)

"""Request limits, one place for each: the body (size, read deadline; a pure ASGI middleware,
so it holds for every route before anything reads the body) and the texts (``check_texts``:
``max_inputs`` and ``max_text_chars`` for every route that takes texts, the values ``/info``
reports). ``flatten_inputs`` is the one unpacking of ``inputs``; ``to_work`` turns a
``/predict_tokens`` body into what the batcher runs. Every refusal names the field and the
limit. See docs/ARCHITECTURE.md (HTTP API, hostile clients).
"""

from __future__ import annotations

import asyncio
import time

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.http.errors import PayloadTooLargeError, RequestInvalidError, RequestTimeoutError
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


class BodyTimeout(HTTPException):
    """Raised from ``receive`` when the body stalls or arrives below the minimum rate."""

    def __init__(self, message: str, limit: float) -> None:
        super().__init__(408, message)
        self.limit = limit

    def error(self) -> RequestTimeoutError:
        return RequestTimeoutError(str(self.detail), field="body", limit=self.limit)


def _declares_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"0", b"")):
            return True
    return False


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_s: float = 15.0,
                 body_min_rate: int = 1024) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.timeout_s = body_timeout_s
        self.min_rate = body_min_rate

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
        limit, timeout_s, min_rate = self.limit, self.timeout_s, self.min_rate
        started = time.monotonic()
        seen = 0
        done = not _declares_body(headers)

        async def limited_receive() -> Message:
            nonlocal seen, done
            if done:  # after the body: e.g. a route waiting for the client to disconnect
                return await receive()
            wait = timeout_s
            if min_rate:
                wait = min(wait, started + timeout_s + seen / min_rate - time.monotonic())
            try:
                if wait <= 0:
                    raise TimeoutError
                async with asyncio.timeout(wait):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(
                    f"the request body arrived too slowly (a pause over {timeout_s:g} s, or under {min_rate} "
                    f"bytes/s after that)", limit=timeout_s) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
                done = not message.get("more_body", False)
            else:
                done = True
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not done and not any(
                    name.lower() == b"connection" for name, _ in message.get("headers", [])):
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited_receive, closing_send)


_FORM = b"application/x-www-form-urlencoded"


def _as_json(scope: Scope) -> Scope:
    """Every body this API takes is JSON: one sent without a content type or form-encoded
    (``curl -d '{...}'``) is read as JSON instead of failing on its media type."""
    headers = scope["headers"]
    kinds = [value.split(b";", 1)[0].strip().lower() for name, value in headers if name == b"content-type"]
    if kinds and kinds[0] not in (_FORM, b""):
        return scope
    kept = [(name, value) for name, value in headers if name != b"content-type"]
    # in place, not a copy: the router records the matched route in this very scope, and the
    # latency metric (outer middleware) reads its route label from it
    scope["headers"] = [*kept, (b"content-type", b"application/json")]
    return scope


async def _send_json(send: Send, status: int, body: dict) -> None:
    payload = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


def flatten_inputs(inputs: list[list[str]] | list[str] | str) -> list[str]:
    """``inputs`` as a list of texts: one string, ``["text", ...]`` or BEI's ``[["text"], ...]``
    (the one place the shapes are unpacked; an inner list must hold exactly one text)."""
    if isinstance(inputs, str):
        return [inputs]
    texts = []
    for i, item in enumerate(inputs):
        if isinstance(item, list):
            if len(item) != 1:
                raise RequestInvalidError(
                    f"inputs[{i}] must hold exactly one text (token classification takes no text pairs)",
                    field=f"inputs[{i}]", limit=1)
            item = item[0]
        texts.append(item)
    return texts


def texts_of(request: PredictRequest, settings: HttpSettings) -> list[str]:
    """The request's texts, flattened, checked against limits."""
    return check_texts(flatten_inputs(request.inputs), settings)


def check_texts(texts: list[str], settings: HttpSettings) -> list[str]:
    """``texts`` if there is at least one, at most ``max_inputs``, none over ``max_text_chars``."""
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

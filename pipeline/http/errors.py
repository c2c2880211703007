"""Errors and their HTTP meaning: one table (``STATUS``) from error class to status code,
``error_type`` and (for server-side failures) a fixed public message, looked up through the
exception's MRO (as Starlette looks up handlers), so a subclass inherits its parent's answer
unless it has its own row.

The core raises domain errors and knows nothing of HTTP (``pipeline.errors``: ``Overloaded``,
``RequestTooExpensive``, ``Unavailable``, ``ClientGone``, ``InputError``...; the job store's
``pipeline.http.jobs.errors``: ``JobNotFoundError``, ``JobConflictError``, ...); the errors below
are the HTTP layer's own (framing, timeouts, auth, request limits, callback rules):

    NerStageError
    └── ApiError                 an error only the HTTP layer raises
        ├── BadRequestError      the request is not well-formed HTTP (bad framing headers)
        ├── RequestTimeoutError  the client sent its headers or body too slowly
        ├── HeadersTooLargeError too many request headers, or too many bytes of them
        ├── PayloadTooLargeError body, number of inputs or text length over a limit
        ├── RequestInvalidError  a field has a value we cannot process
        ├── UnauthorizedError    no or malformed bearer token
        ├── ForbiddenError       unknown API key
        ├── CallbackRefusedError the callback URL is not allowed (SSRF rules)
        └── ServerBusyError      more connections than ``limit_concurrency``

Every error body is ``{"error", "error_type", "field", "limit"}`` (TEI's ``error``/``error_type``
plus the two fields that tell a client what to change): :func:`error_body`, the only place a
body is built (responses, failed jobs, callbacks). A body never echoes more than a short prefix
of what the client sent: ``error`` and ``field`` are clipped (:func:`clip`). Errors that are not
ours (bugs) answer 500 ``internal`` without their message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engines.errors import EngineError, NerStageError
from pipeline.errors import ClientGone, InputError, Overloaded, RequestTooExpensive, TextTooLongError, Unavailable
from pipeline.http.jobs.errors import JobConflictError, JobNotFoundError, JobQueueFullError, JobStoreError
from schemas.http import ErrorBody

#: Longest ``error`` / ``field`` in a body; both may quote client input (a job id, a dict key).
MAX_MESSAGE_CHARS = 240
MAX_FIELD_CHARS = 100


def clip(text: str | None, limit: int = MAX_MESSAGE_CHARS) -> str | None:
    """``text`` cut to ``limit`` characters (marked with an ellipsis)."""
    return text if text is None or len(text) <= limit else text[: limit - 1] + "\u2026"


class ApiError(NerStageError):
    """An error raised by the HTTP layer itself; its status comes from :data:`STATUS`."""

    def __init__(self, message: str, *, field: str | None = None, limit: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.limit = limit
        self.headers = headers or {}

    def __str__(self) -> str:
        return self.message

    @property
    def status(self) -> int:
        return answer_of(self).status

    @property
    def error_type(self) -> str:
        return answer_of(self).error_type

    def body(self) -> dict[str, Any]:
        return error_body(self)


class BadRequestError(ApiError):
    """The request is not well-formed HTTP."""


class RequestTimeoutError(ApiError):
    """The client sent its headers or body too slowly."""


class HeadersTooLargeError(ApiError):
    """Too many request headers, or too many bytes of them."""


class PayloadTooLargeError(ApiError):
    """Body, number of inputs or text length over a limit."""


class RequestInvalidError(ApiError):
    """A field has a value we cannot process."""


class UnauthorizedError(ApiError):
    """No or malformed bearer token."""


class ForbiddenError(ApiError):
    """Unknown API key."""


class CallbackRefusedError(ApiError):
    """The callback URL is not allowed (SSRF rules)."""


class ServerBusyError(ApiError):
    """More connections than ``limit_concurrency`` (refused by the server before the app)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What an error class means on HTTP. ``message`` replaces the error's own text where that
    could name internals (engine, database); ``retry_after`` adds a ``Retry-After`` header."""

    status: int
    error_type: str
    message: str | None = None
    retry_after: int | None = None


#: Error class -> its HTTP answer. The one place an error gets its HTTP meaning.
#: ``ClientGone`` answers 499 (nginx's "client closed request"): nobody reads it.
STATUS: dict[type[BaseException], Answer] = {
    BadRequestError: Answer(400, "bad_request"),
    RequestTimeoutError: Answer(408, "timeout"),
    HeadersTooLargeError: Answer(431, "headers_too_large"),
    PayloadTooLargeError: Answer(413, "payload_too_large"),
    RequestInvalidError: Answer(422, "validation"),
    UnauthorizedError: Answer(401, "unauthorized"),
    ForbiddenError: Answer(403, "forbidden"),
    CallbackRefusedError: Answer(422, "callback_refused"),
    ServerBusyError: Answer(503, "unavailable"),
    TextTooLongError: Answer(413, "payload_too_large"),
    InputError: Answer(422, "validation"),
    RequestTooExpensive: Answer(413, "too_expensive"),
    Overloaded: Answer(429, "overloaded"),
    Unavailable: Answer(503, "unavailable"),
    EngineError: Answer(503, "unavailable", "the inference engine failed"),
    ClientGone: Answer(499, "client_gone"),
    JobNotFoundError: Answer(404, "not_found"),
    JobConflictError: Answer(409, "conflict"),
    JobQueueFullError: Answer(429, "overloaded"),
    JobStoreError: Answer(503, "unavailable", "the jobs database is unavailable; retry later", retry_after=5),
    NerStageError: Answer(500, "internal", "internal error"),
}
_INTERNAL = Answer(500, "internal", "internal error")


def answer_of(exc: BaseException) -> Answer:
    """The row of the nearest class in ``exc``'s MRO (500 ``internal`` for errors not ours)."""
    for cls in type(exc).__mro__:
        found = STATUS.get(cls)
        if found is not None:
            return found
    return _INTERNAL


def status_of(exc: BaseException) -> tuple[int, str]:
    answer = answer_of(exc)
    return answer.status, answer.error_type


def error_body(exc: BaseException) -> dict[str, Any]:
    """The documented error shape, with client-supplied text clipped."""
    answer = answer_of(exc)
    message = answer.message or str(exc) or type(exc).__name__
    return {"error": clip(message), "error_type": answer.error_type,
            "field": clip(getattr(exc, "field", None), MAX_FIELD_CHARS), "limit": getattr(exc, "limit", None)}


#: The error answers an API route documents in OpenAPI (``responses=``), all with the one body.
ERROR_RESPONSES: dict[int | str, dict] = {code: {"model": ErrorBody} for code in (401, 403, 413, 422, 429, 503)}


def error_headers(exc: BaseException) -> dict[str, str]:
    headers = dict(getattr(exc, "headers", None) or {})
    retry_after = getattr(exc, "retry_after", None) or answer_of(exc).retry_after
    if retry_after is not None:
        headers.setdefault("Retry-After", str(retry_after))
    return headers

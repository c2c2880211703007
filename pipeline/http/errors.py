"""Errors and their HTTP meaning: one table (``STATUS``) from error class to status code and
``error_type``, looked up through the exception's MRO (as Starlette looks up handlers), so a
subclass inherits its parent's answer unless it has its own row.

The core raises domain errors (``pipeline.errors``: ``Overloaded``, ``JobNotFound``,
``RequestTooExpensive``, ...) and knows nothing of HTTP; the errors below are the HTTP layer's
own (auth, request limits, callback rules):

    NerStageError
    └── ApiError                 an error only the HTTP layer raises
        ├── PayloadTooLargeError body, number of inputs or text length over a limit
        ├── RequestInvalidError  a field has a value we cannot process
        ├── UnauthorizedError    no or malformed bearer token
        ├── ForbiddenError       unknown API key
        └── CallbackRefusedError the callback URL is not allowed (SSRF rules)

Every error body is ``{"error", "error_type", "field", "limit"}`` (TEI's ``error``/``error_type``
plus the two fields that tell a client what to change): :func:`error_body`. Errors that are not
ours (bugs) answer 500 ``internal`` without their message.
"""

from __future__ import annotations

from typing import Any

from engines.errors import EngineError, NerStageError
from pipeline.errors import (
    ClientGone,
    InputError,
    JobConflict,
    JobNotFound,
    Overloaded,
    RequestTooExpensive,
    TextTooLongError,
    Unavailable,
)


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
        return status_of(self)[0]

    def body(self) -> dict[str, Any]:
        return error_body(self)


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


#: Error class -> (HTTP status, ``error_type``). The one place an error gets its HTTP meaning.
#: ``ClientGone`` answers 499 (nginx's "client closed request"): nobody reads it.
STATUS: dict[type[BaseException], tuple[int, str]] = {
    PayloadTooLargeError: (413, "payload_too_large"),
    RequestInvalidError: (422, "validation"),
    UnauthorizedError: (401, "unauthorized"),
    ForbiddenError: (403, "forbidden"),
    CallbackRefusedError: (422, "callback_refused"),
    TextTooLongError: (413, "payload_too_large"),
    InputError: (422, "validation"),
    RequestTooExpensive: (413, "too_expensive"),
    Overloaded: (429, "overloaded"),
    Unavailable: (503, "unavailable"),
    EngineError: (503, "unavailable"),
    ClientGone: (499, "client_gone"),
    JobNotFound: (404, "not_found"),
    JobConflict: (409, "conflict"),
    NerStageError: (500, "internal"),
}
_INTERNAL = (500, "internal")


def status_of(exc: BaseException) -> tuple[int, str]:
    """``(status, error_type)`` of the nearest class in ``exc``'s MRO that has a row."""
    for cls in type(exc).__mro__:
        found = STATUS.get(cls)
        if found is not None:
            return found
    return _INTERNAL


def error_body(exc: BaseException) -> dict[str, Any]:
    """The documented error shape. Messages of errors that are not ours (bugs) and of engine
    failures are not shown: they may name internals."""
    status, error_type = status_of(exc)
    if not isinstance(exc, NerStageError) or status == 500:
        message = "internal error"
    elif isinstance(exc, EngineError):
        message = "the inference engine failed"
    else:
        message = str(exc) or type(exc).__name__
    return {"error": message, "error_type": error_type, "field": getattr(exc, "field", None),
            "limit": getattr(exc, "limit", None)}


def error_headers(exc: BaseException) -> dict[str, str]:
    return dict(getattr(exc, "headers", None) or {})

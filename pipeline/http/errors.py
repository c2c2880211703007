"""HTTP errors: each carries its status, the offending field and the limit it broke.

    NerStageError
    └── ApiError                 an HTTP 4xx/5xx with a machine-readable body
        ├── BadRequestError      400: the request is not well-formed HTTP (bad framing headers)
        ├── RequestTimeoutError  408: the client sent its headers or body too slowly
        ├── PayloadTooLargeError 413: body, number of inputs or text length over a limit
        ├── HeadersTooLargeError 431: too many request headers, or too many bytes of them
        ├── RequestInvalidError  422: a field has a value we cannot process
        ├── UnauthorizedError    401: no or malformed bearer token
        ├── ForbiddenError       403: unknown API key
        ├── NotFoundError        404: no such job
        ├── ConflictError        409: the job cannot change state that way
        ├── QueueFullError       429: the batcher queue is full; retry after ``retry_after`` s
        ├── CallbackRefusedError 422: the callback URL is not allowed (SSRF rules)
        └── UnavailableError     503: not ready, shutting down, or a needed setting is missing

Bodies are ``{"error", "error_type", "field", "limit"}`` (TEI's ``error``/``error_type`` plus
the two fields that tell a client what to change). A body never echoes more than a short
prefix of what the client sent: ``error`` and ``field`` are clipped (:func:`clip`).
"""

from __future__ import annotations

from typing import Any

from engines.errors import NerStageError

#: Longest ``error`` / ``field`` in a body; both may quote client input (a job id, a dict key).
MAX_MESSAGE_CHARS = 240
MAX_FIELD_CHARS = 100


def clip(text: str | None, limit: int = MAX_MESSAGE_CHARS) -> str | None:
    """``text`` cut to ``limit`` characters (marked with an ellipsis)."""
    return text if text is None or len(text) <= limit else text[: limit - 1] + "\u2026"


class ApiError(NerStageError):
    status = 500
    error_type = "internal"

    def __init__(self, message: str, *, field: str | None = None, limit: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = clip(message)
        self.field = clip(field, MAX_FIELD_CHARS)
        self.limit = limit
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "error_type": self.error_type, "field": self.field, "limit": self.limit}


class BadRequestError(ApiError):
    status = 400
    error_type = "bad_request"


class RequestTimeoutError(ApiError):
    status = 408
    error_type = "timeout"


class HeadersTooLargeError(ApiError):
    status = 431
    error_type = "headers_too_large"


class PayloadTooLargeError(ApiError):
    status = 413
    error_type = "payload_too_large"


class RequestInvalidError(ApiError):
    status = 422
    error_type = "validation"


class UnauthorizedError(ApiError):
    status = 401
    error_type = "unauthorized"


class ForbiddenError(ApiError):
    status = 403
    error_type = "forbidden"


class NotFoundError(ApiError):
    status = 404
    error_type = "not_found"


class ConflictError(ApiError):
    status = 409
    error_type = "conflict"


class QueueFullError(ApiError):
    status = 429
    error_type = "overloaded"

    def __init__(self, message: str, *, retry_after: int, limit: int) -> None:
        super().__init__(message, field=None, limit=limit, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class CallbackRefusedError(ApiError):
    status = 422
    error_type = "callback_refused"


class UnavailableError(ApiError):
    status = 503
    error_type = "unavailable"


class ClientGoneError(NerStageError):
    """The client disconnected before its request reached the engine (nothing to answer)."""

"""Pipeline errors, under the project root ``engines.errors.NerStageError``.

The core raises these; front doors decide what they mean to their clients (the HTTP layer maps
classes to status codes in one table, ``pipeline.http.errors.STATUS``; the CLI prints the
message and exits 2; the Kafka worker dead-letters record errors).

    NerStageError
    ├── ConfigError              settings are invalid or a config file cannot be read
    ├── InputError               a document or request cannot be processed as given (``field``)
    │   └── TextTooLongError     the text exceeds a configured limit
    ├── RequestTooExpensive      a request used up its engine-time budget (``limit`` seconds)
    ├── Overloaded               too much work is queued; retry after ``retry_after`` seconds
    ├── Unavailable              not ready yet, or shutting down
    ├── ClientGone               the requester left; its work was dropped (nobody to answer)
    └── DeliveryError            an output (a Kafka record, an HTTP callback) was not
                                 acknowledged by its receiver; ``retryable`` says if trying
                                 again can help

Package-specific errors (Kafka, HTTP, redaction, the job store's ``JobNotFoundError`` ...) live
in their package's ``errors`` module and derive from these or from the root.
"""

from __future__ import annotations

from typing import Any

from engines.errors import NerStageError


class ConfigError(NerStageError):
    """A setting is invalid or a config file cannot be read."""


class InputError(NerStageError):
    """A document or request cannot be processed as given; ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None, limit: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.limit = limit


class TextTooLongError(InputError):
    """The text is longer than the configured character limit."""


class RequestTooExpensive(NerStageError):
    """A request has used its engine-time budget (``limit`` seconds) and was stopped."""

    def __init__(self, message: str, *, limit: float, field: str | None = "inputs") -> None:
        super().__init__(message)
        self.limit = limit
        self.field = field


class Overloaded(NerStageError):
    """More work is queued than the configured bound; ``retry_after`` is an estimate in seconds."""

    def __init__(self, message: str, *, retry_after: int, limit: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.limit = limit
        self.headers = {"Retry-After": str(retry_after)}


class Unavailable(NerStageError):
    """The service is not ready or is shutting down."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}


class ClientGone(NerStageError):
    """The requester disconnected or cancelled; its remaining work was dropped."""


class DeliveryError(NerStageError):
    """An output was not acknowledged by its receiver (Kafka broker, callback endpoint)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable

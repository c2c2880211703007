"""Job-store errors: domain errors, not HTTP ones (the app maps them to statuses).

    NerStageError
    └── JobError                 something about async jobs went wrong
        ├── JobNotFoundError     no such job *for this caller* (another key's job looks missing too)
        ├── JobConflictError     the job cannot change state that way (e.g. cancel a finished job)
        ├── JobQueueFullError    ``max_queued_jobs`` jobs are already waiting; ``retry_after`` s
        └── JobStoreError        the database failed, or its schema is newer than this build
            └── JobStoreUnavailableError   it cannot be reached (refused, no connection within
                                           ``jobs_db_timeout_s``, or the breaker is open)

The stores raise these and wrap driver errors (``sqlite3``, ``psycopg``) in
:class:`JobStoreError` with ``raise ... from exc``; ``pipeline.http.app`` turns them into
404 / 409 / 429 / 503 bodies.
"""

from __future__ import annotations

from engines.errors import NerStageError


class JobError(NerStageError):
    """Root of the job-store errors; ``field`` and ``limit`` feed the HTTP error body."""

    def __init__(self, message: str, *, field: str | None = None, limit: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.limit = limit


class JobNotFoundError(JobError):
    """No job with that id that the caller may see."""


class JobConflictError(JobError):
    """The job's state does not allow the change."""


class JobQueueFullError(JobError):
    """Too many jobs are queued; the caller should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, limit: int, retry_after: int = 5) -> None:
        super().__init__(message, field=None, limit=limit)
        self.retry_after = retry_after


class JobStoreError(JobError):
    """The job database failed (unreachable, timed out, or an unknown schema version)."""

    def __init__(self, message: str, *, field: str | None = None, limit: object = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message, field=field, limit=limit)
        self.retry_after = retry_after


class JobStoreUnavailableError(JobStoreError):
    """The database cannot be reached: what opens the store's breaker (see ``store.Breaker``)."""

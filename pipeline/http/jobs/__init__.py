"""Async jobs: a durable store shared by the API replicas that open the same database.

``--jobs-db`` picks the store (:func:`open_job_store`):

- a path, or ``sqlite:///PATH`` -- embedded SQLite, one process (the default, no server);
- ``postgresql://USER:PASS@HOST:PORT/DB`` -- PostgreSQL, any number of replicas.

Both are :class:`JobStore`: one set of queries with leases and fencing (see
:mod:`pipeline.http.jobs.store`), the tables versioned and migrated at start-up
(:mod:`pipeline.http.jobs.schema`). Errors are :mod:`pipeline.http.jobs.errors`.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.http.jobs.errors import (
    JobConflictError,
    JobError,
    JobNotFoundError,
    JobQueueFullError,
    JobStoreError,
    JobStoreUnavailableError,
)
from pipeline.http.jobs.model import TERMINAL, Job, Run
from pipeline.http.jobs.store import JobStore

__all__ = ["TERMINAL", "Job", "JobConflictError", "JobError", "JobNotFoundError", "JobQueueFullError", "JobStore",
           "JobStoreError", "JobStoreUnavailableError", "Run", "open_job_store"]

_POSTGRES = ("postgresql://", "postgres://")


def open_job_store(spec: str | Path, *, max_queued: int | None = None, pool_size: int = 4, wait_s: float = 1.0,
                   breaker_s: float = 5.0) -> JobStore:
    """Open (and migrate) the store that ``spec`` names; the PostgreSQL driver is imported only
    when asked for. ``wait_s`` bounds a PostgreSQL connection wait; ``breaker_s`` is how long
    calls fail fast after the database was found unreachable."""
    text = str(spec)
    if text.startswith(_POSTGRES):
        from pipeline.http.jobs.postgres import PostgresJobStore

        return PostgresJobStore(text, max_queued=max_queued, pool_size=pool_size, wait_s=wait_s,
                                breaker_s=breaker_s)
    if text.startswith("sqlite://"):  # sqlite:///PATH, as SQLAlchemy: sqlite:///rel.db, sqlite:////abs.db
        if not text.startswith("sqlite:///"):
            raise JobStoreError("sqlite URLs are sqlite:///PATH (three slashes, then the path)", field="jobs_db")
        text = text.removeprefix("sqlite:///")
    elif "://" in text:
        raise JobStoreError(f"jobs_db must be a path, sqlite:///PATH or postgresql://...; got scheme "
                            f"{text.split('://', 1)[0]!r}", field="jobs_db", limit=["sqlite", "postgresql"])
    from pipeline.http.jobs.sqlite import SqliteJobStore

    return SqliteJobStore(text, max_queued=max_queued)

"""Durable async-job store on embedded SQLite.

Why SQLite: a job accepted with ``202`` must survive the process being killed (SIGKILL,
OOM, node drain) without an external database. Each state change is one committed
transaction in WAL mode; a killed process loses nothing that was committed (only a power
loss can, with ``synchronous=NORMAL``). On start, :meth:`JobStore.recover` puts jobs that were
``running`` back to ``queued`` (their work was lost with the process), and callbacks still
``pending`` are picked up again by the runner: delivery is at-least-once, keyed by job id.

The request (which holds document text) is kept only until the job ends; finished jobs are
purged after the retention period. Calls are short and made from the event loop thread only.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import JobConflict, JobNotFound

TERMINAL = ("succeeded", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    request BLOB,
    callback_url TEXT,
    metadata BLOB,
    result BLOB,
    error BLOB,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    delivery TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_delivery ON jobs (delivery, next_attempt_at);
"""

_COLUMNS = ("id, status, request, callback_url, metadata, result, error, created_at, updated_at, delivery, "
            "attempts, next_attempt_at, last_error")


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    status: str
    request: bytes | None
    callback_url: str | None
    metadata: bytes | None
    result: bytes | None
    error: bytes | None
    created_at: float
    updated_at: float
    delivery: str
    attempts: int
    next_attempt_at: float | None
    last_error: str | None


class JobStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple = ()) -> Job | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return Job(*row) if row else None

    def _exec(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # -- lifecycle ------------------------------------------------------------------------

    def create(self, job_id: str, request: bytes, callback_url: str | None, metadata: bytes | None) -> Job:
        now = time.time()
        self._exec(
            f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, 'queued', ?, ?, ?, NULL, NULL, ?, ?, 'none', 0, NULL, NULL)",
            (job_id, request, callback_url, metadata, now, now),
        )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        return self._one(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    def recover(self) -> int:
        """Put jobs that were running when the process died back in the queue."""
        return self._exec("UPDATE jobs SET status = 'queued', updated_at = ? WHERE status = 'running'",
                          (time.time(),))

    def claim_next(self) -> Job | None:
        """Atomically move the oldest queued job to running and return it."""
        return self._one(
            f"UPDATE jobs SET status = 'running', updated_at = ? WHERE id = ("
            f"SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at LIMIT 1) RETURNING {_COLUMNS}",
            (time.time(),),
        )

    def requeue(self, job_id: str) -> None:
        self._exec("UPDATE jobs SET status = 'queued', updated_at = ? WHERE id = ? AND status = 'running'",
                   (time.time(), job_id))

    def finish(self, job_id: str, status: str, *, result: bytes | None = None, error: bytes | None = None) -> bool:
        """Record the outcome of a running job; False when it was cancelled meanwhile."""
        now = time.time()
        return bool(self._exec(
            "UPDATE jobs SET status = ?, result = ?, error = ?, request = NULL, updated_at = ?, "
            "delivery = CASE WHEN callback_url IS NULL THEN 'none' ELSE 'pending' END, next_attempt_at = ? "
            "WHERE id = ? AND status = 'running'",
            (status, result, error, now, now, job_id),
        ))

    def cancel(self, job_id: str) -> Job:
        job = self.require(job_id)
        if job.status in TERMINAL:
            raise JobConflict(f"job {job_id!r} is already {job.status}", limit=list(TERMINAL))
        now = time.time()
        changed = self._exec(
            "UPDATE jobs SET status = 'cancelled', request = NULL, updated_at = ?, "
            "delivery = CASE WHEN callback_url IS NULL THEN 'none' ELSE 'pending' END, next_attempt_at = ? "
            "WHERE id = ? AND status IN ('queued', 'running')",
            (now, now, job_id),
        )
        if not changed:  # finished between the read and the update
            raise JobConflict(f"job {job_id!r} has just finished", limit=list(TERMINAL))
        return self.require(job_id)

    # -- callbacks ------------------------------------------------------------------------

    def due_deliveries(self, now: float, limit: int = 64) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE delivery = 'pending' AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at LIMIT ?", (now, limit)).fetchall()
        return [Job(*row) for row in rows]

    def next_delivery_at(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(next_attempt_at) FROM jobs WHERE delivery = 'pending'").fetchone()
        return row[0] if row else None

    def delivered(self, job_id: str, attempts: int) -> None:
        self._exec("UPDATE jobs SET delivery = 'delivered', attempts = ?, last_error = NULL, updated_at = ? "
                   "WHERE id = ?", (attempts, time.time(), job_id))

    def attempt_failed(self, job_id: str, attempts: int, error: str, next_at: float | None) -> None:
        """Record a failed try; ``next_at`` None means give up (delivery ``failed``)."""
        self._exec(
            "UPDATE jobs SET delivery = CASE WHEN ? IS NULL THEN 'failed' ELSE 'pending' END, attempts = ?, "
            "last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?",
            (next_at, attempts, error[:500], next_at, time.time(), job_id),
        )

    def purge(self, older_than: float) -> int:
        return self._exec(
            "DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') AND delivery != 'pending' "
            "AND updated_at < ?", (older_than,))


"""The job-store interface, written once in SQL for both databases.

:class:`JobStore` holds every query; a backend (:mod:`.sqlite`, :mod:`.postgres`) supplies a
transaction (:meth:`JobStore._tx`), the dialect's few differences (:class:`Dialect`) and its
start-up lock for :func:`~.schema.migrate`. All methods are synchronous and thread-safe; the
server calls them through :meth:`JobStore.call`, which runs them on the store's own threads so
a database round trip never blocks the event loop.

Work distribution (why it is safe with many replicas):

- ``claim_next`` takes the oldest job that is ``queued`` *or* ``running`` with an expired
  lease, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (replicas never wait on each other's
  claims, and never get the same row), sets ``lease_owner``/``lease_expires_at`` and bumps
  ``run_attempt``, and records a :class:`~.model.Run`. A replica that dies simply stops
  renewing; the job is claimed again when the lease runs out.
- ``renew``, ``finish``, ``requeue`` only act on the claim whose ``run_attempt`` they carry
  (fencing), so at most one run of a job can record its outcome.
- ``due_deliveries`` leases due callbacks the same way (``delivery_lease_until``); a
  replica that dies mid-delivery leaves the callback ``pending``, and another sends it again
  when the lease runs out: delivery is at-least-once, with the job id as ``Idempotency-Key``.

Failing fast (:class:`Breaker`): a backend raises :class:`JobStoreUnavailableError` when the
database cannot be reached within its bounded connection wait; the breaker then answers every
call at once with that error (``Retry-After``: the time left) for ``breaker_s``, after which one
call probes the database while the others keep failing fast. So a database that is down costs
each request at most one bounded wait, never a queue of them behind the store's threads.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pipeline.http.jobs import schema
from pipeline.http.jobs.errors import (
    JobConflictError,
    JobNotFoundError,
    JobQueueFullError,
    JobStoreError,
    JobStoreUnavailableError,
)
from pipeline.http.jobs.model import JOB_COLUMNS, RUN_COLUMNS, TERMINAL, Job, Run, short_id

T = TypeVar("T")

_PENDING_IF_CALLBACK = "CASE WHEN callback_url IS NULL THEN 'none' ELSE 'pending' END"


class Tx(Protocol):
    """One open transaction: ``?`` placeholders, rows as tuples."""

    def one(self, sql: str, args: tuple = ()) -> tuple | None: ...
    def all(self, sql: str, args: tuple = ()) -> list[tuple]: ...
    def run(self, sql: str, args: tuple = ()) -> int: ...


@dataclass(frozen=True)
class Dialect:
    types: dict[str, str]
    #: appended to the SELECT that picks work to claim
    skip_locked: str
    #: the two-argument maximum
    greatest: str
    #: SQL that returns a row when the ``jobs`` table exists
    jobs_table_exists: str


class Breaker:
    """Closed until a call fails with :class:`JobStoreUnavailableError`; then open for
    ``open_s`` (every call fails at once), then half-open (one call probes; its success closes
    the breaker, its failure opens it again). Thread-safe: the store's threads share it."""

    def __init__(self, open_s: float) -> None:
        self.open_s = open_s
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: closed
        self._probing = False

    def before(self, probe: bool = True) -> None:
        """Raise :class:`JobStoreUnavailableError` unless this call may go to the database;
        with ``probe`` the call that passes a half-open breaker becomes its probe."""
        with self._lock:
            if self._open_until is None:
                return
            left = self._open_until - time.monotonic()
            if left <= 0 and not self._probing:
                self._probing = probe
                return
            retry = max(1, math.ceil(left if left > 0 else self.open_s))
        raise JobStoreUnavailableError(f"the jobs database failed recently; not retried for {retry} s",
                                       retry_after=retry)

    def after(self, failed: bool) -> None:
        with self._lock:
            self._probing = False
            self._open_until = time.monotonic() + self.open_s if failed else None


class JobStore(ABC):
    """Durable async jobs shared by every replica that opens the same database."""

    dialect: Dialect

    def __init__(self, *, max_queued: int | None = None, threads: int = 4, breaker_s: float = 5.0) -> None:
        self.max_queued = max_queued
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="jobs-db")
        self.breaker = Breaker(breaker_s)

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Tx]:
        """A transaction, committed when the block exits normally; driver errors become
        :class:`JobStoreError`."""

    @abstractmethod
    def _lock_for_migration(self, tx: Tx) -> None:
        """Serialise start-up migrations between replicas."""

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    async def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one store method off the event loop, through the breaker: refused at once while
        it is open, both before queueing for a thread and again when a thread takes the call."""
        self.breaker.before(probe=False)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._guarded, method, *args, **kwargs))

    def _guarded(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.breaker.before()
        try:
            result = method(*args, **kwargs)
        except JobStoreUnavailableError:
            self.breaker.after(True)
            raise
        except BaseException:
            self.breaker.after(False)
            raise
        self.breaker.after(False)
        return result

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the tables to :data:`schema.LATEST`; returns the version found."""
        with self._tx() as tx:
            self._lock_for_migration(tx)
            tx.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at "
                   f"{self.dialect.types['real']} NOT NULL)")
            row = tx.one("SELECT MAX(version) FROM schema_version")
            found = row[0] if row and row[0] is not None else (1 if tx.one(self.dialect.jobs_table_exists) else 0)
            if found > schema.LATEST:
                raise JobStoreError(f"the jobs database has schema version {found}; this build knows up to "
                                    f"{schema.LATEST}: upgrade ner-stage", field="jobs_db", limit=schema.LATEST)
            for version, sql in schema.MIGRATIONS:
                if version > found:
                    for statement in schema.statements(sql, self.dialect.types):
                        tx.run(statement)
                    tx.run("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, time.time()))
        return found

    def schema_version(self) -> int:
        with self._tx() as tx:
            row = tx.one("SELECT MAX(version) FROM schema_version")
        return row[0]

    # -- lifecycle ------------------------------------------------------------------------

    def create(self, job_id: str, request: bytes, callback_url: str | None, metadata: bytes | None,
               *, key_hash: str | None = None) -> Job:
        """Queue a job, or raise :class:`JobQueueFullError` when ``max_queued`` are waiting."""
        now = time.time()
        cap = self.max_queued if self.max_queued is not None else 2**62
        with self._tx() as tx:
            added = tx.run(
                "INSERT INTO jobs (id, status, request, callback_url, metadata, created_at, updated_at, delivery, "
                "attempts, key_hash, run_attempt) SELECT ?, 'queued', ?, ?, ?, ?, ?, 'none', 0, ?, 0 "
                "WHERE (SELECT COUNT(*) FROM jobs WHERE status = 'queued') < ?",
                (job_id, request, callback_url, metadata, now, now, key_hash, cap))
        if not added:
            raise JobQueueFullError(f"{cap} async jobs are already queued; retry later", limit=cap)
        return Job(job_id, "queued", request, callback_url, metadata, None, None, now, now, "none", 0, None, None,
                   key_hash)

    def get(self, job_id: str) -> Job | None:
        with self._tx() as tx:
            row = tx.one(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return Job.from_row(row) if row else None

    def require(self, job_id: str, key_hash: str | None = None) -> Job:
        """The job, if the caller holding ``key_hash`` created it; otherwise the same
        :class:`JobNotFoundError` as for a job that does not exist (no existence oracle)."""
        job = self.get(job_id)
        if job is None or job.key_hash != key_hash:
            raise JobNotFoundError(f"no job {short_id(job_id)!r}", field="job_id")
        return job

    def recover(self) -> int:
        """Requeue running jobs whose lease has expired (their replica is gone)."""
        return self._requeue_where("status = 'running' AND lease_expires_at < ?", (time.time(),))

    def _requeue_where(self, condition: str, args: tuple) -> int:
        now = time.time()
        with self._tx() as tx:
            rows = tx.all(f"SELECT id, run_attempt FROM jobs WHERE {condition}", args)
            for job_id, attempt in rows:
                tx.run("UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, "
                       "updated_at = ? WHERE id = ? AND run_attempt = ?", (now, job_id, attempt))
                self._end_run(tx, job_id, attempt, "lost", now)
        return len(rows)

    def claim_next(self, owner: str = "local", lease_s: float = 30.0) -> Job | None:
        """Lease the oldest claimable job to ``owner`` for ``lease_s`` seconds (see the module doc)."""
        now = time.time()
        with self._tx() as tx:
            row = tx.one("SELECT id, status, run_attempt FROM jobs WHERE status = 'queued' OR "
                         "(status = 'running' AND lease_expires_at < ?) ORDER BY created_at LIMIT 1"
                         + self.dialect.skip_locked, (now,))
            if row is None:
                return None
            job_id, status, attempt = row
            if status == "running":  # its replica stopped renewing: that run is over
                self._end_run(tx, job_id, attempt, "lost", now)
            claimed = tx.one(
                "UPDATE jobs SET status = 'running', lease_owner = ?, lease_expires_at = ?, run_attempt = ?, "
                f"updated_at = ? WHERE id = ? RETURNING {JOB_COLUMNS}",
                (owner, now + lease_s, attempt + 1, now, job_id))
            tx.run(f"INSERT INTO job_runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, NULL, NULL)",
                   (job_id, attempt + 1, owner, now))
        return Job.from_row(claimed)

    def renew(self, job_id: str, attempt: int, lease_s: float) -> str:
        """Extend the lease of run ``attempt``: ``held``, or ``cancelled`` (stop the work) or
        ``lost`` (another replica has the job now; stop and record nothing)."""
        now = time.time()
        with self._tx() as tx:
            if tx.run("UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND run_attempt = ? AND status = 'running'",
                      (now + lease_s, job_id, attempt)):
                return "held"
            row = tx.one("SELECT status, run_attempt FROM jobs WHERE id = ?", (job_id,))
            cancelled = row is not None and row[0] == "cancelled" and row[1] == attempt
            self._end_run(tx, job_id, attempt, "cancelled" if cancelled else "lost", now)
        return "cancelled" if cancelled else "lost"

    def requeue(self, job_id: str, attempt: int | None = None) -> None:
        """Give a claimed job back to the queue (e.g. the engine queue is full)."""
        now = time.time()
        with self._tx() as tx:
            attempt = self._current_attempt(tx, job_id) if attempt is None else attempt
            if tx.run("UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, updated_at = ? "
                      "WHERE id = ? AND status = 'running' AND run_attempt = ?", (now, job_id, attempt)):
                self._end_run(tx, job_id, attempt, "requeued", now)

    def finish(self, job_id: str, status: str, *, result: bytes | None = None, error: bytes | None = None,
               attempt: int | None = None) -> bool:
        """Record the outcome of run ``attempt`` (default: the current one); False when the job
        was cancelled meanwhile or another replica holds it now."""
        now = time.time()
        with self._tx() as tx:
            attempt = self._current_attempt(tx, job_id) if attempt is None else attempt
            changed = tx.run(
                "UPDATE jobs SET status = ?, result = ?, error = ?, request = NULL, updated_at = ?, "
                f"lease_owner = NULL, lease_expires_at = NULL, delivery = {_PENDING_IF_CALLBACK}, next_attempt_at = ? "
                "WHERE id = ? AND status = 'running' AND run_attempt = ?",
                (status, result, error, now, now, job_id, attempt))
            self._end_run(tx, job_id, attempt, status if changed else "discarded", now)
        return bool(changed)

    def cancel(self, job_id: str, key_hash: str | None = None) -> Job:
        """Cancel a queued or running job of this caller. A running job's replica sees it at
        its next lease renewal and stops the work."""
        job = self.require(job_id, key_hash)
        if job.status in TERMINAL:
            raise JobConflictError(f"job {short_id(job_id)!r} is already {job.status}", field="job_id",
                                   limit=list(TERMINAL))
        now = time.time()
        with self._tx() as tx:
            row = tx.one(
                "UPDATE jobs SET status = 'cancelled', request = NULL, updated_at = ?, lease_owner = NULL, "
                f"lease_expires_at = NULL, delivery = {_PENDING_IF_CALLBACK}, next_attempt_at = ? "
                f"WHERE id = ? AND status IN ('queued', 'running') RETURNING {JOB_COLUMNS}",
                (now, now, job_id))
        if row is None:  # finished between the read and the update
            raise JobConflictError(f"job {short_id(job_id)!r} has just finished", field="job_id",
                                   limit=list(TERMINAL))
        return Job.from_row(row)

    def runs(self, job_id: str) -> list[Run]:
        """Every claim of the job, oldest first (what ran where, and how it ended)."""
        with self._tx() as tx:
            rows = tx.all(f"SELECT {RUN_COLUMNS} FROM job_runs WHERE job_id = ? ORDER BY attempt", (job_id,))
        return [Run(*row) for row in rows]

    def end_run(self, job_id: str, attempt: int, outcome: str) -> None:
        """Close run ``attempt`` (e.g. ``cancelled`` when its replica stopped the work)."""
        with self._tx() as tx:
            self._end_run(tx, job_id, attempt, outcome, time.time())

    @staticmethod
    def _current_attempt(tx: Tx, job_id: str) -> int:
        row = tx.one("SELECT run_attempt FROM jobs WHERE id = ?", (job_id,))
        return row[0] if row else 0

    @staticmethod
    def _end_run(tx: Tx, job_id: str, attempt: int, outcome: str, now: float) -> None:
        tx.run("UPDATE job_runs SET ended_at = ?, outcome = ? WHERE job_id = ? AND attempt = ? AND ended_at IS NULL",
               (now, outcome, job_id, attempt))

    # -- callbacks ------------------------------------------------------------------------

    def due_deliveries(self, now: float, limit: int = 64, *, owner: str = "local", lease_s: float = 60.0) -> list[Job]:
        """Lease up to ``limit`` callbacks that are due and not leased by a live replica."""
        with self._tx() as tx:
            ids = tx.all("SELECT id FROM jobs WHERE delivery = 'pending' AND next_attempt_at <= ? AND "
                         "(delivery_lease_until IS NULL OR delivery_lease_until < ?) ORDER BY next_attempt_at "
                         "LIMIT ?" + self.dialect.skip_locked, (now, now, limit))
            rows = [tx.one(f"UPDATE jobs SET delivery_owner = ?, delivery_lease_until = ? WHERE id = ? "
                           f"RETURNING {JOB_COLUMNS}", (owner, now + lease_s, job_id)) for (job_id,) in ids]
        return [Job.from_row(row) for row in rows]

    def next_delivery_at(self) -> float | None:
        """When the next pending callback becomes due (or its lease runs out)."""
        with self._tx() as tx:
            row = tx.one(f"SELECT MIN({self.dialect.greatest}(next_attempt_at, COALESCE(delivery_lease_until, 0))) "
                         "FROM jobs WHERE delivery = 'pending'")
        return row[0] if row else None

    def delivered(self, job_id: str, attempts: int) -> None:
        with self._tx() as tx:
            tx.run("UPDATE jobs SET delivery = 'delivered', attempts = ?, last_error = NULL, "
                   "delivery_lease_until = NULL, updated_at = ? WHERE id = ? AND delivery = 'pending'",
                   (attempts, time.time(), job_id))

    def attempt_failed(self, job_id: str, attempts: int, error: str, next_at: float | None) -> None:
        """Record a failed try; ``next_at`` None means give up (delivery ``failed``). A
        callback another replica has delivered meanwhile stays delivered."""
        with self._tx() as tx:
            tx.run(
                "UPDATE jobs SET delivery = ?, attempts = ?, last_error = ?, next_attempt_at = ?, "
                "delivery_lease_until = NULL, updated_at = ? WHERE id = ? AND delivery = 'pending'",
                ("failed" if next_at is None else "pending", attempts, error[:500], next_at, time.time(), job_id))

    def purge(self, older_than: float) -> int:
        """Delete finished jobs (and their run history) last changed before ``older_than``."""
        condition = ("status IN ('succeeded', 'failed', 'cancelled') AND delivery != 'pending' AND updated_at < ?")
        with self._tx() as tx:
            tx.run(f"DELETE FROM job_runs WHERE job_id IN (SELECT id FROM jobs WHERE {condition})", (older_than,))
            return tx.run(f"DELETE FROM jobs WHERE {condition}", (older_than,))

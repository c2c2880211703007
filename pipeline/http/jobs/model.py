"""What a job store holds: the :class:`Job` row, the :class:`Run` history row, and helpers.

A job's life: ``queued`` -> ``running`` (claimed by one replica under a lease) ->
``succeeded`` | ``failed`` | ``cancelled``. Its callback has its own small state machine in
``delivery``: ``none`` (no callback URL) or ``pending`` -> ``delivered`` | ``failed``.

Every claim of a job adds one :class:`Run` (attempt number, owner, start, end, outcome); the
attempt number is the *fencing token*: a replica may only finish, renew or requeue the run it
claimed, so a replica whose lease expired (paused, partitioned, killed) cannot overwrite the
outcome of the replica that took the job over.
"""

from __future__ import annotations

from dataclasses import dataclass

TERMINAL = ("succeeded", "failed", "cancelled")

#: Column order of :class:`Job`; every SELECT of a job row uses it.
JOB_COLUMNS = ("id, status, request, callback_url, metadata, result, error, created_at, updated_at, delivery, "
               "attempts, next_attempt_at, last_error, key_hash, run_attempt, lease_owner, lease_expires_at, "
               "delivery_owner, delivery_lease_until")
RUN_COLUMNS = "job_id, attempt, owner, started_at, ended_at, outcome"


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
    #: Callback attempts made so far.
    attempts: int
    next_attempt_at: float | None
    last_error: str | None
    #: sha256 (hex) of the API key that created the job; None when the server has no keys.
    key_hash: str | None = None
    #: How many times the job was claimed; the current claim's fencing token.
    run_attempt: int = 0
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    delivery_owner: str | None = None
    delivery_lease_until: float | None = None

    @classmethod
    def from_row(cls, row) -> Job:
        values = list(row)
        for i in (2, 4, 5, 6):  # drivers may hand BLOB/BYTEA back as memoryview
            if isinstance(values[i], memoryview):
                values[i] = values[i].tobytes()
        return cls(*values)


@dataclass(frozen=True, slots=True)
class Run:
    """One claim of a job: ``outcome`` is None while it runs, then the job's final status,
    ``requeued`` (engine full), ``lost`` (lease taken over or the process died) or ``cancelled``."""

    job_id: str
    attempt: int
    owner: str
    started_at: float
    ended_at: float | None
    outcome: str | None


def short_id(job_id: str) -> str:
    """A job id as error messages show it: never more than 64 characters of user input."""
    return job_id if len(job_id) <= 64 else job_id[:64] + "..."

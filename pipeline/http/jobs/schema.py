"""The job tables and their versioned migrations, one list for SQLite and PostgreSQL.

``schema_version`` holds one row per applied migration. At start-up every replica runs
:func:`migrate` inside one transaction that first takes a lock (``BEGIN IMMEDIATE`` on
SQLite, ``pg_advisory_xact_lock`` on PostgreSQL), so replicas starting together apply each
migration once. A database written by a newer build (a version we do not know) is refused
rather than misread. SQLite files created before versioning have the version-1 tables and no
``schema_version``: they are recognised as version 1 and migrated forward.

Types are written ``{blob}`` and ``{real}`` and filled in per dialect (BLOB/BYTEA,
REAL/DOUBLE PRECISION); times are Unix seconds from the replicas' clocks.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    request {blob},
    callback_url TEXT,
    metadata {blob},
    result {blob},
    error {blob},
    created_at {real} NOT NULL,
    updated_at {real} NOT NULL,
    delivery TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {real},
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_delivery ON jobs (delivery, next_attempt_at)
"""),
    (2, """
ALTER TABLE jobs ADD COLUMN key_hash TEXT;
ALTER TABLE jobs ADD COLUMN run_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at {real};
ALTER TABLE jobs ADD COLUMN delivery_owner TEXT;
ALTER TABLE jobs ADD COLUMN delivery_lease_until {real};
CREATE TABLE IF NOT EXISTS job_runs (
    job_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    owner TEXT NOT NULL,
    started_at {real} NOT NULL,
    ended_at {real},
    outcome TEXT,
    PRIMARY KEY (job_id, attempt)
)
"""),
]

LATEST = MIGRATIONS[-1][0]


def statements(sql: str, types: dict[str, str]) -> list[str]:
    """One migration's statements, with the dialect's type names filled in."""
    return [s.strip() for s in sql.format(**types).split(";") if s.strip()]

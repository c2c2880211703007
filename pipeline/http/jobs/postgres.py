"""The shared job store: PostgreSQL through psycopg 3 and a connection pool.

Every API replica opens the same database; work is distributed by leases (see
:mod:`pipeline.http.jobs.store`). Claims use ``SELECT ... FOR UPDATE SKIP LOCKED``, so two
replicas never claim the same row and never wait for each other's claims. Migrations run under
``pg_advisory_xact_lock`` so replicas starting together apply each one once.

Connections are checked before use (a database restart costs one failed request, not a
broken pool); a request waits at most ``wait_s`` for a connection. Every driver error becomes
:class:`JobStoreError` (HTTP 503); one that means the database cannot be reached (connection
refused or lost, no connection within ``wait_s``) is :class:`JobStoreUnavailableError`, which
opens the store's breaker. The DSN's password never appears in a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg_pool

from pipeline.http.jobs.errors import JobError, JobStoreError, JobStoreUnavailableError
from pipeline.http.jobs.store import Dialect, JobStore

_DIALECT = Dialect(
    types={"blob": "BYTEA", "real": "DOUBLE PRECISION"},
    skip_locked=" FOR UPDATE SKIP LOCKED",
    greatest="GREATEST",
    jobs_table_exists="SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                      "AND table_name = 'jobs'",
)

#: ``pg_advisory_xact_lock`` key taken by start-up migrations ("ner-jobs" in ASCII, truncated).
_MIGRATION_LOCK = 0x6E65722D6A6F6273


def describe(dsn: str) -> str:
    """``user@host:port/db`` of a DSN, for messages: never the password."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "postgresql://(unparsable DSN)"
    return (f"postgresql://{parts.get('user', '')}@{parts.get('host', 'localhost')}:{parts.get('port', 5432)}"
            f"/{parts.get('dbname', '')}")


class _Tx:
    def __init__(self, cursor: psycopg.Cursor) -> None:
        self.cursor = cursor

    def one(self, sql: str, args: tuple = ()) -> tuple | None:
        return self.cursor.execute(sql.replace("?", "%s"), args).fetchone()

    def all(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self.cursor.execute(sql.replace("?", "%s"), args).fetchall()

    def run(self, sql: str, args: tuple = ()) -> int:
        return self.cursor.execute(sql.replace("?", "%s"), args).rowcount


class PostgresJobStore(JobStore):
    dialect = _DIALECT

    def __init__(self, dsn: str, *, max_queued: int | None = None, pool_size: int = 4,
                 connect_timeout_s: float = 30.0, wait_s: float = 1.0, breaker_s: float = 5.0) -> None:
        super().__init__(max_queued=max_queued, threads=pool_size, breaker_s=breaker_s)
        self.where = describe(dsn)
        self.wait_s = wait_s
        self._pool = psycopg_pool.ConnectionPool(
            dsn, min_size=1, max_size=pool_size, open=False, timeout=wait_s, name="ner-jobs",
            check=psycopg_pool.ConnectionPool.check_connection, kwargs={"connect_timeout": 10})
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            self._pool.close()
            raise JobStoreError(f"cannot connect to the jobs database {self.where} within {connect_timeout_s:g} s",
                                field="jobs_db") from exc
        try:
            self.migrate()
        except BaseException:
            self._pool.close()
            raise

    def close(self) -> None:
        super().close()
        self._pool.close()

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        try:
            with self._pool.connection() as conn, conn.cursor() as cursor:
                yield _Tx(cursor)
        except JobError:
            raise
        except psycopg_pool.PoolTimeout as exc:
            raise JobStoreUnavailableError(f"jobs database {self.where}: no connection within {self.wait_s:g} s "
                                           "(jobs_db_timeout_s)") from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise JobStoreUnavailableError(f"jobs database {self.where}: {type(exc).__name__}: {exc}") from exc
        except psycopg.Error as exc:
            raise JobStoreError(f"jobs database {self.where}: {type(exc).__name__}: {exc}") from exc

    def _lock_for_migration(self, tx: _Tx) -> None:
        tx.run("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

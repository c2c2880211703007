"""The embedded job store: one SQLite file (WAL), one process.

Why SQLite by default: a job accepted with ``202`` must survive the process being killed
(SIGKILL, OOM, node drain) without an external database. Each state change is one committed
transaction in WAL mode; a killed process loses nothing that was committed (only a power loss
can, with ``synchronous=NORMAL``).

One process owns the file, so at start-up every ``running`` job is that process's own lost
work: :meth:`SqliteJobStore.recover` requeues all of them at once instead of waiting for their
leases to run out. Several replicas need the PostgreSQL store.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.http.jobs.errors import JobError, JobStoreError
from pipeline.http.jobs.store import Dialect, JobStore

_DIALECT = Dialect(
    types={"blob": "BLOB", "real": "REAL"},
    skip_locked="",  # BEGIN IMMEDIATE already serialises writers
    greatest="MAX",
    jobs_table_exists="SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'",
)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def one(self, sql: str, args: tuple = ()) -> tuple | None:
        return self.db.execute(sql, args).fetchone()

    def all(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self.db.execute(sql, args).fetchall()

    def run(self, sql: str, args: tuple = ()) -> int:
        return self.db.execute(sql, args).rowcount


class SqliteJobStore(JobStore):
    dialect = _DIALECT

    def __init__(self, path: str | Path, *, max_queued: int | None = None) -> None:
        super().__init__(max_queued=max_queued, threads=1)
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
        except (OSError, sqlite3.Error) as exc:
            raise JobStoreError(f"cannot open the jobs database {str(path)!r}: {exc}", field="jobs_db") from exc
        self._lock = threading.Lock()
        self.migrate()

    def close(self) -> None:
        super().close()
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise JobStoreError(f"jobs database: {exc}") from exc
            try:
                yield _Tx(self._db)
            except JobError:
                self._db.execute("ROLLBACK")
                raise
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise JobStoreError(f"jobs database: {exc}") from exc
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _lock_for_migration(self, tx: _Tx) -> None:
        """``BEGIN IMMEDIATE`` holds the write lock already."""

    def recover(self) -> int:
        """Requeue every running job: in a one-process store they are all this process's lost work."""
        return self._requeue_where("status = 'running'", ())

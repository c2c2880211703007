"""A real PostgreSQL server for the tests: Debian's ``postgresql`` package, started per session.

Binaries come from ``/usr/lib/postgresql/<version>/bin`` (the newest there), else ``initdb``
on PATH; ``scripts/install-postgres.sh`` (run by ``scripts/test.sh``) installs the Debian
package when neither is present. Why the Debian
package rather than the ``pgserver`` wheel: it is the same build users deploy, it is in every
Debian/Ubuntu mirror CI can reach, and it does not depend on a small wheel's release cadence.

The cluster lives in a fresh temp directory with its unix socket there, listens on a free
loopback port, and uses password (scram) auth on TCP so DSNs are exercised as in production.
``initdb`` refuses to run as root, so under root the server runs as ``nobody`` (the temp
directory is handed to it). Durability settings are off (fsync) -- this is a test server.

Without PostgreSQL the tests that need it skip, except under ``CI=true``, where they fail:
a CI run must never pass by not testing the database.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.requires import skip_or_fail

USER = "ner"
PASSWORD = "ner-test-password"


def find_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="ner-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self._as: dict = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, cwd=self.root, timeout=120, **self._as)

    def start(self) -> PostgresServer:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD)
        if self._as:
            os.chown(pwfile, self._as["user"], self._as["group"])
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        self.log = open(self.root / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.resume()
        return self

    def halt(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected), keeping its data."""
        self.proc.send_signal(2)
        self.proc.wait(30)

    def resume(self) -> None:
        """Start the server on its data directory (again, after :meth:`halt`) and wait for it."""
        self.proc = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.root, **self._as)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.root / 'server.log').read_text()[-2000:]}")
            try:
                psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def dsn(self, db: str) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{db}"

    def create_database(self, stem: str = "jobs") -> str:
        """A new empty database; returns its DSN."""
        import psycopg

        name = f"{stem}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        with contextlib.suppress(Exception):
            self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bin()
    if bindir is None:
        skip_or_fail("PostgreSQL binaries not found (scripts/install-postgres.sh installs Debian postgresql)")
    server = PostgresServer(bindir)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture()
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A fresh database for one test."""
    return postgres_server.create_database()

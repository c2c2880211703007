"""A local Apicurio Registry (Confluent-compatible ``/apis/ccompat/v7``) run with the machine's Java.

Started for the integration tests (``schema_registry`` fixture) and beside ``ner-stage broker
--schema-registry``. Tuned for small machines as DESIGN.md measured it: a 256 MiB heap, serial
GC, C1 only, and a class-data archive recorded at the first start (:func:`class_archive`): ready
in 3-4 s (4.5-6 s without the archive, side by side on the loaded 2-core VM), about 200 MB RSS. Storage is in
memory (H2): a restart forgets every schema. The global compatibility rule is BACKWARD,
Confluent's default, so an incompatible schema is refused with HTTP 409 (Apicurio's
``GET /config`` still reports NONE until a ``PUT``).
Logs go to one file, never to our stdout.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import structlog

from engines.cache import locked as _locked
from pipeline.devtools.maven import Progress
from pipeline.devtools.processes import die_with_parent, free_port, terminate_process
from pipeline.devtools.schema_registry.artifacts import build_jar, java_for_registry
from pipeline.kafka.errors import KafkaStageError

log = structlog.get_logger(__name__)

#: Where confluent-kafka's SchemaRegistryClient (and any Confluent client) points.
CCOMPAT_PATH = "/apis/ccompat/v7"
ARCHIVE_NAME = "apicurio-registry.jsa"
_NO_ARCHIVE = ".no-class-archive"
JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-XX:+ExitOnOutOfMemoryError",
             "-Djava.awt.headless=true")


class SchemaRegistryStartError(KafkaStageError):
    """The registry's JVM exited while starting, or did not answer in time."""


@dataclass
class SchemaRegistry:
    """A running Apicurio Registry; a context manager, or call :meth:`stop`."""

    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        """The Confluent-compatible base URL (``schema.registry.url`` / ``--schema-registry-url``)."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT_PATH}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM (Quarkus shuts down cleanly), SIGKILL after ``timeout_s``; returns the exit code. Idempotent."""
        return terminate_process(self.process, timeout_s, "schema_registry.kill", port=self.port)

    def wait_until_ready(self, timeout_s: float) -> None:
        """Return once ``GET /subjects`` answers 200; :class:`SchemaRegistryStartError` if the JVM exits first."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.running:
                raise SchemaRegistryStartError(f"Apicurio Registry exited with code {self.process.returncode} while "
                                               f"starting; log {self.log_path}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError), \
                    urllib.request.urlopen(f"{self.url}/subjects", timeout=2) as response:
                if response.status == 200:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise SchemaRegistryStartError(f"Apicurio Registry not ready within {timeout_s:.0f}s; "
                                               f"log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.2)

    def __enter__(self) -> SchemaRegistry:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _launch(java: str, jar: Path, port: int, logs: Path, heap_mb: int, extra: list[str]) -> SchemaRegistry:
    log_path = logs / f"schema-registry-{port}.log"
    command = [java, f"-Xmx{heap_mb}m", *JVM_FLAGS, *extra, "-Dquarkus.http.host=127.0.0.1",
               f"-Dquarkus.http.port={port}", "-Dregistry.rules.global.compatibility=BACKWARD",
               "-Dquarkus.banner.enabled=false", "-jar", str(jar)]
    with log_path.open("ab") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=die_with_parent)
    return SchemaRegistry(port, process, log_path)


def class_archive(jar: Path, *, progress: Progress | None = None, timeout_s: float = 180.0) -> Path | None:
    """The JVM class-data archive (AppCDS) beside ``jar``, recorded once; None where none can be made.

    Loading Quarkus's and the registry's ~15,000 classes dominates a start on a small machine:
    with the archive a start took 3.1-3.7 s instead of 4.5-6.2 s, side by side on the loaded 2-core VM.
    It is recorded by starting the registry once with ``-XX:ArchiveClassesAtExit`` and stopping
    it (about 10 s, under the build's lock, so concurrent sessions record it once). An archive
    made by another Java build is ignored by the JVM (``-Xshare:auto``): the start is just slower.
    """
    archive = jar.with_name(ARCHIVE_NAME)
    unusable = jar.with_name(_NO_ARCHIVE)
    if archive.is_file() or unusable.is_file():
        return archive if archive.is_file() else None
    java = java_for_registry()
    with _locked(jar.parent.parent / f"{jar.parent.name}.lock"):
        if archive.is_file() or unusable.is_file():  # another process recorded it while we waited
            return archive if archive.is_file() else None
        if progress:
            progress("recording the registry's class-data archive (once, about 10 s; later starts are faster)")
        staging = jar.with_name(f".{ARCHIVE_NAME}.{os.getpid()}")
        with tempfile.TemporaryDirectory(prefix="ner-stage-registry-cds-") as logs:
            registry = _launch(java, jar, free_port(), Path(logs), 256, [f"-XX:ArchiveClassesAtExit={staging}"])
            try:
                registry.wait_until_ready(timeout_s)
            except SchemaRegistryStartError as exc:  # e.g. a port race: try again on the next start
                log.warning("schema_registry.class_archive_failed", error=str(exc).splitlines()[0])
                staging.unlink(missing_ok=True)
                return None
            finally:
                registry.stop(timeout_s=60.0)  # the JVM writes the archive as it exits
        if not staging.is_file() or staging.stat().st_size == 0:  # this JVM cannot write one: do not retry
            unusable.write_text("the JVM wrote no class-data archive\n")
            return None
        staging.rename(archive)
    return archive


def launch_schema_registry(*, port: int = 0, log_dir: str | Path, cache_dir: Path | None = None,
                           heap_mb: int = 256, progress: Progress | None = None) -> SchemaRegistry:
    """Start the registry's JVM and return at once (call :meth:`SchemaRegistry.wait_until_ready`).

    For callers that start something else meanwhile (``ner-stage broker``). Call it from the
    thread that will outlive the registry: the JVM is told to stop when the thread that started
    it ends (Linux ``PR_SET_PDEATHSIG`` follows the thread, not the process).
    """
    java = java_for_registry()
    jar = build_jar(cache_dir, progress=progress)
    archive = class_archive(jar, progress=progress)
    logs = Path(log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    chosen = port or free_port()
    if progress:
        progress(f"starting Apicurio Registry on 127.0.0.1:{chosen}")
    return _launch(java, jar, chosen, logs, heap_mb, [f"-XX:SharedArchiveFile={archive}"] if archive else [])


def start_schema_registry(*, port: int = 0, log_dir: str | Path, cache_dir: Path | None = None,
                          heap_mb: int = 256, startup_timeout_s: float = 120.0,
                          progress: Progress | None = None, attempts: int = 3) -> SchemaRegistry:
    """Start Apicurio Registry on 127.0.0.1 (``port`` 0: a free one) and return once it answers.

    Builds the jar on first use (:func:`~pipeline.devtools.schema_registry.artifacts.build_jar`). Raises
    :class:`~pipeline.devtools.schema_registry.artifacts.SchemaRegistryUnavailableError` when Java, Maven
    or the build are missing, :class:`SchemaRegistryStartError` when the registry fails to start.
    """
    last: SchemaRegistryStartError | None = None
    for attempt in range(max(1, attempts if port == 0 else 1)):  # a free port can be taken before the JVM binds it
        started = time.monotonic()
        registry = launch_schema_registry(port=port, log_dir=log_dir, cache_dir=cache_dir, heap_mb=heap_mb,
                                          progress=progress if attempt == 0 else None)
        try:
            registry.wait_until_ready(startup_timeout_s)
        except SchemaRegistryStartError as exc:
            registry.stop()
            last = exc
            continue
        log.info("schema_registry.started", url=registry.url, seconds=round(time.monotonic() - started, 1),
                 log=str(registry.log_path))
        return registry
    assert last is not None
    raise last

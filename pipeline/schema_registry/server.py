"""A local Apicurio Registry (Confluent-compatible ``/apis/ccompat/v7``) run with the machine's Java.

Started for the integration tests (``schema_registry`` fixture) and beside ``ner-stage broker
--schema-registry``. Tuned for small machines as DESIGN.md measured it: a 256 MiB heap, serial
GC, C1 only; ready in about 5 s, about 220 MB RSS. Storage is in memory (H2): a restart forgets
every schema. The global compatibility rule is BACKWARD, Confluent's default, so an incompatible
schema is refused with HTTP 409 (Apicurio's ``GET /config`` still reports NONE until a ``PUT``).
Logs go to one file, never to our stdout.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import structlog

from pipeline.kafka.apache.artifacts import Progress
from pipeline.kafka.errors import KafkaStageError
from pipeline.kafka.local_broker import die_with_parent, free_port, terminate_process
from pipeline.schema_registry.artifacts import build_jar, java_for_registry

log = structlog.get_logger(__name__)

#: Where confluent-kafka's SchemaRegistryClient (and any Confluent client) points.
CCOMPAT_PATH = "/apis/ccompat/v7"
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


def start_schema_registry(*, port: int = 0, log_dir: str | Path, cache_dir: Path | None = None,
                          heap_mb: int = 256, startup_timeout_s: float = 120.0,
                          progress: Progress | None = None, attempts: int = 3) -> SchemaRegistry:
    """Start Apicurio Registry on 127.0.0.1 (``port`` 0: a free one) and return once it answers.

    Builds the jar on first use (:func:`~pipeline.schema_registry.artifacts.build_jar`). Raises
    :class:`~pipeline.schema_registry.artifacts.SchemaRegistryUnavailableError` when Java, Maven
    or the build are missing, :class:`SchemaRegistryStartError` when the registry fails to start.
    """
    java = java_for_registry()
    jar = build_jar(cache_dir, progress=progress)
    logs = Path(log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    last: SchemaRegistryStartError | None = None
    for attempt in range(max(1, attempts if port == 0 else 1)):  # a free port can be taken before the JVM binds it
        chosen = port or free_port()
        log_path = logs / f"schema-registry-{chosen}.log"
        command = [java, f"-Xmx{heap_mb}m", *JVM_FLAGS, "-Dquarkus.http.host=127.0.0.1",
                   f"-Dquarkus.http.port={chosen}", "-Dregistry.rules.global.compatibility=BACKWARD",
                   "-Dquarkus.banner.enabled=false", "-jar", str(jar)]
        if progress and attempt == 0:
            progress(f"starting Apicurio Registry on 127.0.0.1:{chosen}")
        started = time.monotonic()
        with log_path.open("ab") as out:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True, preexec_fn=die_with_parent)
        registry = SchemaRegistry(chosen, process, log_path)
        try:
            registry.wait_until_ready(startup_timeout_s)
        except SchemaRegistryStartError as exc:
            registry.stop()
            last = exc
            continue
        log.info("schema_registry.started", url=registry.url, seconds=round(time.monotonic() - started, 1),
                 log=str(log_path))
        return registry
    assert last is not None
    raise last

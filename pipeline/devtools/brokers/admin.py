"""Admin calls on a development broker (any of them: Tansu, noida-db, Apache Kafka, or one given
with ``--bootstrap``): wait until it answers, create and delete topics.

Consumer groups on Tansu: a JoinGroup waits half the session timeout before answering, so
clients of a local Tansu broker should use a short ``session.timeout.ms`` (see
:data:`FAST_GROUP_CONFIG`; 6 s gives a ~3 s join instead of ~23 s with librdkafka's 45 s).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable

import structlog

from pipeline.kafka.errors import KafkaStageError

log = structlog.get_logger(__name__)

#: librdkafka consumer settings that make group joins fast on a local broker.
FAST_GROUP_CONFIG: dict[str, int] = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


class LocalBrokerError(KafkaStageError):
    """A development broker could not be started, did not answer, or rejected an admin call."""


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

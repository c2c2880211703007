"""Integration fixtures: real Kafka brokers and unique topics (the only broker launchers in tests).

- ``kafka_broker`` (session): an Apache Kafka if one is at hand, else an embedded Tansu.
  In order: ``NER_TEST_KAFKA_BOOTSTRAP=HOST:PORT`` (an external cluster, used as is), a
  testcontainers Apache Kafka when ``testcontainers`` is installed and a Docker engine answers,
  else Tansu (``pipeline.kafka.local_broker``).
- ``eos_broker`` (session): a broker whose ``read_committed`` consumers skip aborted
  transactions: the same Apache Kafka if there is one, else an embedded noida-db.
- ``topics`` (function): a factory of unique topic names for the current test, created on the
  chosen broker and deleted after the test::

      names = topics("input", "entities", partitions=3)              # on kafka_broker
      names = topics("input", "entities", broker=eos_broker)         # on eos_broker
      names.input, names["entities"], list(names)

Each broker fixture yields a :class:`Broker` (``bootstrap``, ``kind``, ``transactions``,
``client_config()``). Consumers in tests should pass ``session_timeout_ms=6000`` (or
``FAST_GROUP_CONFIG``): Tansu answers a JoinGroup only after half the session timeout.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pipeline.kafka import local_broker

EXTERNAL_ENV = "NER_TEST_KAFKA_BOOTSTRAP"
KAFKA_IMAGE = "apache/kafka:3.8.0"


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    kind: str  # tansu | noida | external | testcontainers
    transactions: bool  # read_committed hides aborted transactions

    def client_config(self, **extra) -> dict:
        return {"bootstrap.servers": self.bootstrap, **extra}


def _docker_answers() -> bool:
    try:
        import docker  # installed with testcontainers

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, no permission: all mean "no Docker"
        return False


@pytest.fixture(scope="session")
def _apache_kafka() -> Iterator[Broker | None]:
    """A real Apache Kafka (external or testcontainers), or None when there is none."""
    external = os.environ.get(EXTERNAL_ENV)
    if external:
        local_broker.wait_until_ready(external, timeout_s=30)
        yield Broker(external, "external", transactions=True)
        return
    try:
        from testcontainers.kafka import KafkaContainer
    except ImportError:
        yield None
        return
    if not _docker_answers():
        yield None
        return
    container = KafkaContainer(KAFKA_IMAGE).with_kraft()
    container.start()
    try:
        bootstrap = container.get_bootstrap_server()
        local_broker.wait_until_ready(bootstrap, timeout_s=60)
        yield Broker(bootstrap, "testcontainers", transactions=True)
    finally:
        container.stop()


@pytest.fixture(scope="session")
def kafka_broker(_apache_kafka: Broker | None, tmp_path_factory) -> Iterator[Broker]:
    if _apache_kafka is not None:
        yield _apache_kafka
        return
    with local_broker.start_broker("tansu", log_dir=tmp_path_factory.mktemp("tansu")) as broker:
        yield Broker(broker.bootstrap, broker.kind, broker.transactions)


@pytest.fixture(scope="session")
def eos_broker(_apache_kafka: Broker | None, tmp_path_factory) -> Iterator[Broker]:
    if _apache_kafka is not None:
        yield _apache_kafka
        return
    with local_broker.start_broker("noida", log_dir=tmp_path_factory.mktemp("noida")) as broker:
        yield Broker(broker.bootstrap, broker.kind, broker.transactions)


class TopicNames(dict):
    """role -> unique topic name; roles are also attributes (``names.input``)."""

    def __getattr__(self, role: str) -> str:
        try:
            return self[role]
        except KeyError as exc:
            raise AttributeError(role) from exc


@pytest.fixture
def topics(request) -> Iterator:
    created: list[tuple[str, list[str]]] = []
    stem = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:60] or "test"

    def make(*roles: str, broker: Broker | None = None, partitions: int = 1,
             config: dict[str, str] | None = None) -> TopicNames:
        broker = broker or request.getfixturevalue("kafka_broker")
        suffix = uuid.uuid4().hex[:8]
        names = TopicNames({role: f"{stem}-{role}-{suffix}" for role in roles})
        local_broker.create_topics(broker.bootstrap, names.values(), partitions=partitions, config=config)
        created.append((broker.bootstrap, list(names.values())))
        return names

    yield make
    for bootstrap, names in created:
        local_broker.delete_topics(bootstrap, names, timeout_s=10)

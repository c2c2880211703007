"""Integration fixtures: real Kafka brokers and unique topics (the only broker launchers in tests).

- ``kafka_broker`` (session): Apache Kafka 4.1 (KRaft, one node), started from its Maven
  Central jars with the machine's Java (``pipeline.devtools.brokers.apache``; the first run resolves the
  jars into ``.cache/``). ``NER_TEST_KAFKA_BOOTSTRAP=HOST:PORT`` uses an external cluster
  instead. Only where Java or Maven is missing, and never under ``CI=true``, it falls back to an
  embedded Tansu (with a warning); under CI a broker that cannot start fails every test using it.
- ``eos_broker`` (session): a broker whose ``read_committed`` consumers skip aborted
  transactions: the same Apache Kafka (the fallback without Java is an embedded noida-db).
- ``topics`` (function): a factory of unique topic names for the current test, created on the
  chosen broker and deleted after the test::

      names = topics("input", "entities", partitions=3)              # on kafka_broker
      names = topics("input", "entities", broker=eos_broker)         # on eos_broker
      names = topics("output", config={"max.message.bytes": "2048"}) # topic configs
      names.input, names["entities"], list(names)

- ``sasl_ssl_broker`` / ``mtls_broker`` (session, started on first use): Apache Kafka with
  SASL/SCRAM over TLS, or mutual TLS, and the ACL authorizer (``--security`` of ``ner-stage
  broker``); ``security`` holds the super user's client settings.

Each broker fixture yields a :class:`Broker`, the stable interface other tests build on:
``bootstrap`` (``bootstrap.servers``), ``kind`` (``apache`` | ``external`` | ``tansu`` |
``noida``), ``transactions`` (aborted transactions are hidden from read_committed),
``client_config(**extra)`` (a librdkafka dict), and ``apache`` (the running
:class:`~pipeline.devtools.brokers.apache.ApacheCluster` when we started one, else None: its
``java_command(main_class, *args)`` runs Kafka's own tools, e.g.
``org.apache.kafka.tools.consumer.ConsoleConsumer``, from the same jars; ``classpath`` is
the jar directory for a Java client). Tests that need Apache Kafka itself call
``require_apache(broker)``. Consumers should use ``session_timeout_ms=6000`` (or
``FAST_GROUP_CONFIG``) so a group joins fast on every broker kind.

- ``schema_registry`` (session): a real Apicurio Registry (Confluent-compatible API), see
  :mod:`tests.integration.schema_registry`.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from pipeline.config import running_in_ci
from pipeline.devtools.brokers import admin, embedded
from pipeline.devtools.brokers.apache import ApacheCluster, ApacheKafkaUnavailableError, start_apache
from tests.integration.requires import skip_or_fail
from tests.integration.schema_registry import schema_registry  # noqa: F401  (the fixture, for every test here)

EXTERNAL_ENV = "NER_TEST_KAFKA_BOOTSTRAP"


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    kind: str  # apache | external | tansu | noida
    transactions: bool  # read_committed hides aborted transactions
    apache: ApacheCluster | None = field(default=None, compare=False, repr=False)
    security: dict = field(default_factory=dict, compare=False, repr=False)  # the super user's librdkafka settings

    def client_config(self, **extra) -> dict:
        return {"bootstrap.servers": self.bootstrap, **self.security, **extra}


def require_apache(broker: Broker) -> ApacheCluster:
    """The Apache Kafka we started, or skip (fail under CI) when the session fell back to a stand-in."""
    if broker.apache is None:
        skip_or_fail(f"needs the Apache Kafka started by the tests (this session runs on {broker.kind})")
    return broker.apache


def start_test_apache(tmp_path_factory, name: str, **kwargs) -> ApacheCluster | None:
    """Start Apache Kafka for tests; None (with a warning) only outside CI when Java/Maven are missing."""
    try:
        return start_apache(log_dir=tmp_path_factory.mktemp(name),
                            progress=lambda line: print(line, file=sys.stderr, flush=True), **kwargs)
    except ApacheKafkaUnavailableError as exc:
        if running_in_ci():
            raise RuntimeError(f"CI=true requires Apache Kafka for the integration tests: {exc}") from exc
        warnings.warn(f"Apache Kafka unavailable, integration tests fall back to embedded brokers: {exc}",
                      stacklevel=2)
        return None


@pytest.fixture(scope="session")
def _apache_kafka(tmp_path_factory) -> Iterator[Broker | None]:
    """A real Apache Kafka (external, or started here), or None where Java/Maven are missing (not in CI)."""
    external = os.environ.get(EXTERNAL_ENV)
    if external:
        admin.wait_until_ready(external, timeout_s=30)
        yield Broker(external, "external", transactions=True)
        return
    cluster = start_test_apache(tmp_path_factory, "apache-kafka")
    if cluster is None:
        yield None
        return
    with cluster:
        yield Broker(cluster.bootstrap, "apache", transactions=True, apache=cluster)


def _secured(tmp_path_factory, mode: str) -> Iterator[Broker]:
    if os.environ.get(EXTERNAL_ENV):
        skip_or_fail(f"the {mode} broker is started by the tests; {EXTERNAL_ENV} gives a plaintext one")
    cluster = start_test_apache(tmp_path_factory, f"apache-{mode}", security=mode)
    if cluster is None:
        skip_or_fail(f"a {mode} broker needs Apache Kafka (Java and Maven)")
    with cluster:
        yield Broker(cluster.bootstrap, "apache", transactions=True, apache=cluster,
                     security=cluster.security.client_config())


@pytest.fixture(scope="session")
def sasl_ssl_broker(tmp_path_factory) -> Iterator[Broker]:
    """Apache Kafka with SASL/SCRAM-SHA-512 over TLS and ACLs (authorizer on, deny by default);
    ``client_config()`` is the super user's."""
    yield from _secured(tmp_path_factory, "sasl_ssl")


@pytest.fixture(scope="session")
def mtls_broker(tmp_path_factory) -> Iterator[Broker]:
    """Apache Kafka with mutual TLS and ACLs; ``client_config()`` has the super user's certificate."""
    yield from _secured(tmp_path_factory, "mtls")


@pytest.fixture(scope="session")
def kafka_broker(_apache_kafka: Broker | None, tmp_path_factory) -> Iterator[Broker]:
    if _apache_kafka is not None:
        yield _apache_kafka
        return
    with embedded.start_broker("tansu", log_dir=tmp_path_factory.mktemp("tansu")) as broker:
        yield Broker(broker.bootstrap, broker.kind, broker.transactions)


@pytest.fixture(scope="session")
def eos_broker(_apache_kafka: Broker | None, tmp_path_factory) -> Iterator[Broker]:
    if _apache_kafka is not None:
        yield _apache_kafka
        return
    with embedded.start_broker("noida", log_dir=tmp_path_factory.mktemp("noida")) as broker:
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
             config: dict[str, str] | None = None, replication_factor: int = 1) -> TopicNames:
        broker = broker or request.getfixturevalue("kafka_broker")
        suffix = uuid.uuid4().hex[:8]
        names = TopicNames({role: f"{stem}-{role}-{suffix}" for role in roles})
        admin.create_topics(broker.bootstrap, names.values(), partitions=partitions, config=config,
                                   replication_factor=replication_factor, client=broker.security)
        created.append((broker, list(names.values())))
        return names

    yield make
    for broker, names in created:
        admin.delete_topics(broker.bootstrap, names, timeout_s=10, client=broker.security)

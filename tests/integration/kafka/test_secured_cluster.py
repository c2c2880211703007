"""The worker on secured Apache Kafka (SASL/SCRAM over TLS, mutual TLS, ACLs deny by default),
as a user that holds ONLY the ACLs docs/OPERATIONS.md lists (``pipeline.kafka.acls``).

- end to end, both delivery modes, both security modes: every document once (exactly-once)
  or at least once, the poison record dead-lettered;
- one case per required ACL left out: the worker stops at start-up with the error naming
  principal, operation and resource, nothing is dead-lettered or committed; once the ACL is
  granted a restart delivers everything exactly once;
- a broker that never answers: the start-up timeout ends it with one named error.

Wrong password, untrusted CA and expired certificate run the real ``ner-stage worker``
(exit status, log lines): ``test_secured_failures.py``.
"""

from __future__ import annotations

import socket
import time
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition

from pipeline.devtools.bench.common import sample_texts
from pipeline.kafka.acls import worker_acls
from pipeline.kafka.errors import AuthorizationError, StartupTimeoutError
from tests.integration.kafka.kafka_io import TopicReader, doc, produce
from tests.integration.kafka.secured import (
    PRINCIPAL,
    USER,
    Running,
    add_scram_user,
    build,
    grant_worker,
    new_password,
    worker_settings,
)

pytestmark = pytest.mark.integration
ROLES = ("input", "entities", "redacted", "dlq")
DOCS = 40


@pytest.fixture(scope="module")
def sasl_ssl_user(sasl_ssl_broker) -> dict:
    password = new_password()
    add_scram_user(sasl_ssl_broker, USER, password)
    return {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": USER,
            "sasl_password": password, "ssl_ca_location": sasl_ssl_broker.security["ssl.ca.location"]}


@pytest.fixture(scope="module")
def mtls_user(mtls_broker, tmp_path_factory) -> dict:
    cert, key = mtls_broker.apache.security.ca.issue(tmp_path_factory.mktemp("ner-cert"), USER)
    return {"security_protocol": "SSL", "ssl_ca_location": mtls_broker.security["ssl.ca.location"],
            "ssl_certificate_location": str(cert), "ssl_key_location": str(key)}


def _stream(broker, names, n: int = DOCS, seed: int = 3) -> set[str]:
    texts = sample_texts(n, 2, 8, seed=seed)
    records = [(f"k{i}".encode(), doc(f"d{i}", t), None) for i, t in enumerate(texts)]
    records.insert(n // 2, (b"poison", b"\xff{not json", None))
    produce(broker.bootstrap, names.input, records, config=broker.security)
    return {f"d{i}" for i in range(n)}


def _deliver(broker, names, settings, service, ids: set[str]) -> tuple[list, list]:
    """Run the worker until every document is out; the entity and dead-letter records, settled."""
    running = Running(settings, service)
    entities = TopicReader(broker.bootstrap, names.entities, read_committed=True, config=broker.security)
    dlq = TopicReader(broker.bootstrap, names.dlq, read_committed=True, config=broker.security)
    try:
        entities.until(lambda recs: {r.json()["id"] for r in recs} >= ids, timeout=120, what="every document")
        dlq.until(lambda recs: len(recs) >= 1, timeout=30, what="the poison record")
    finally:
        running.finish()
    got = entities.settle(1.0), dlq.settle(0.3)
    entities.close()
    dlq.close()
    return got


@pytest.mark.parametrize("delivery", ["exactly_once", "at_least_once"])
@pytest.mark.parametrize("mode", ["sasl_ssl", "mtls"])
def test_worker_with_only_the_documented_acls_delivers_every_document(mode, delivery, request, topics,
                                                                      rampart_service):
    broker = request.getfixturevalue(f"{mode}_broker")
    client = request.getfixturevalue(f"{mode}_user")
    names = topics(*ROLES, broker=broker, partitions=2)
    settings = worker_settings(broker, names, client, delivery=delivery)
    grant_worker(broker, settings)
    ids = _stream(broker, names)
    entities, letters = _deliver(broker, names, settings, rampart_service, ids)
    counts = Counter(r.json()["id"] for r in entities)
    if delivery == "exactly_once":
        assert counts == Counter(ids)
    else:
        assert set(counts) == ids
    assert [r.key for r in letters] == [b"poison"]
    assert letters[0].value == b"\xff{not json"


def _required_acls():
    from pipeline.kafka.settings import KafkaSettings

    shape = KafkaSettings(input=["in"], entities_topic="ent", redacted_topic="red", dlq_topic="dlq", group="grp",
                          delivery="exactly_once")
    return [(acl.resource, acl.operation, {"in": "input", "ent": "entities", "red": "redacted", "dlq": "dlq"}
             .get(acl.name, acl.name)) for acl in worker_acls(shape, optional=False)]


def _committed(broker, settings) -> list[int]:
    consumer = Consumer(broker.client_config(**{"group.id": settings.group}))
    try:
        parts = consumer.committed([TopicPartition(settings.input[0], p) for p in (0, 1)], timeout=10)
        return [tp.offset for tp in parts]
    finally:
        consumer.close()


@pytest.mark.parametrize("missing", _required_acls(), ids=lambda m: f"{m[1]}-{m[0]}-{m[2]}")
def test_each_missing_acl_stops_the_worker_naming_it_and_a_grant_then_delivers_everything_once(
        missing, sasl_ssl_broker, sasl_ssl_user, topics, rampart_service):
    broker = sasl_ssl_broker
    names = topics(*ROLES, broker=broker, partitions=2)
    settings = worker_settings(broker, names, sasl_ssl_user, delivery="exactly_once")
    resource, operation, role = missing
    left_out = next(acl for acl in worker_acls(settings, optional=False)
                    if (acl.resource, acl.operation) == (resource, operation)
                    and acl.name == {"input": names.input, "entities": names.entities, "redacted": names.redacted,
                                     "dlq": names.dlq}.get(role, acl.name))
    grant_worker(broker, settings, leave_out=left_out)
    ids = _stream(broker, names, n=12)

    started = time.monotonic()
    with pytest.raises(AuthorizationError) as raised:
        build(settings, rampart_service)  # the start-up check
    assert time.monotonic() - started < settings.startup_timeout_s
    kind = {"topic": "topic", "group": "group", "transactional_id": "transactional id"}[resource]
    name = left_out.name if resource != "transactional_id" else left_out.name + "-"
    assert f"principal {PRINCIPAL} lacks {operation} on {kind} {name}" in str(raised.value)
    assert sasl_ssl_user["sasl_password"] not in str(raised.value)
    dlq = TopicReader(broker.bootstrap, names.dlq, config=broker.security)
    assert dlq.settle(0.5) == []  # nothing dead-lettered
    dlq.close()
    assert all(offset < 0 for offset in _committed(broker, settings))  # nothing committed

    grant_worker(broker, settings)  # the missing one too
    entities, letters = _deliver(broker, names, settings, rampart_service, ids)
    assert Counter(r.json()["id"] for r in entities) == Counter(ids)
    assert [r.key for r in letters] == [b"poison"]


def test_a_bootstrap_that_never_answers_ends_within_the_startup_timeout(sasl_ssl_user, rampart_service):
    """A port that accepts connections but never says a word: one named error after the timeout."""
    from pipeline.kafka.settings import KafkaSettings

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        bootstrap = f"127.0.0.1:{silent.getsockname()[1]}"
        settings = KafkaSettings(bootstrap=bootstrap, input=["in"], startup_timeout_s=4, **sasl_ssl_user)
        started = time.monotonic()
        with pytest.raises(StartupTimeoutError) as raised:
            build(settings, rampart_service)
        took = time.monotonic() - started
    assert 4 <= took < 20
    assert f"no Kafka broker on {bootstrap} answered within 4s" in str(raised.value)
    assert sasl_ssl_user["sasl_password"] not in str(raised.value)

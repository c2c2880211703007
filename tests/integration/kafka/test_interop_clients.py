"""Clients no one here wrote, against the worker on a real broker: Node.js (kafkajs + avsc), Java
(kafka-clients + Avro) and Python (confluent-kafka + fastavro) produce documents in ``json`` and
``avro``; the Node.js and Java consumers read every entity and redacted record and check each
offset in code points (``Array.from(text)``, ``codePoints()``) on texts with emoji, CJK and
combining marks. The clients' sources in ``tests/interop/`` are what KAFKA_CONTRACTS.md quotes.

- ``json``, at-least-once, the default output codec, on ``kafka_broker``;
- ``avro``, exactly-once, snappy outputs (kafkajs needs its codec package), on ``eos_broker``: an
  aborted transaction holding a copy of one entity and one redacted record is added after the
  worker's, and the read_committed consumers must still see each document once.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from confluent_kafka import Producer

from pipeline.kafka.settings import KafkaSettings
from tests.integration.kafka import interop
from tests.integration.kafka.kafka_io import TopicReader, worker_args
from tests.interop.python.produce import produce as python_produce

pytestmark = pytest.mark.integration

TEXTS = [
    "🎉🎉 Party at 東京 tower! Email maria.garcia@example.com or call +1 202 555 0143.",
    "👩‍💻 Dev log 😀: Jose\u0301 said John Smith lives at 42 Elm Street, Springfield.",
    "東京都の田中さん 🍣 wrote to wei.chen@example.org about invoice 77.",
    "Cafe\u0301 crème 🇫🇷 meeting: Aisha Okafor, phone (415) 555-2671.",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝔱𝔢𝔵𝔱 then Olga Ivanova at olga.ivanova@example.net 🙂",
    "Plain ASCII: Liam Brown, liam.brown@example.com.",
]
PRODUCERS = ("node", "java", "python")
CLIENT_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def node_client():
    return interop.build_node()


@pytest.fixture(scope="session")
def java_client():
    return interop.build_java()


def _docs(prefix: str) -> list[dict]:
    return [{"id": f"{prefix}-{i}", "text": text} for i, text in enumerate(TEXTS)]


def _abort_a_copy(bootstrap: str, entities: TopicReader, redacted: TopicReader) -> None:
    """Writes one entity and one redacted record again, in a transaction that is then aborted."""
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"interop-abort-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for reader in (entities, redacted):
        rec = reader.records[0]
        producer.produce(rec.topic, rec.value, rec.key, headers=rec.headers)
    producer.flush(30)
    producer.abort_transaction(30)


@pytest.mark.parametrize(("fmt", "exactly_once", "codec"), [
    pytest.param("json", False, None, id="json-at-least-once-default-codec"),
    pytest.param("avro", True, "snappy", id="avro-exactly-once-snappy"),
])
def test_node_java_and_python_clients_round_trip_through_the_worker(
        fmt, exactly_once, codec, node_client, java_client, request, topics, worker_process, tmp_path):
    broker = request.getfixturevalue("eos_broker" if exactly_once else "kafka_broker")
    bootstrap = broker.bootstrap
    names = topics("input", "entities", "redacted", "dlq", broker=broker)
    extra = ["--format", fmt, "--batch-max-wait-ms", "20"]
    extra += ["--exactly-once", "--group-instance-id", f"interop-{uuid.uuid4().hex[:6]}"] if exactly_once else []
    extra += ["--compression-type", codec] if codec else []
    worker = worker_process(worker_args(bootstrap, names, f"interop-{uuid.uuid4().hex[:8]}", *extra))

    docs = {p: _docs(p) for p in PRODUCERS}
    every = [d for p in PRODUCERS for d in docs[p]]
    files = {}
    for name, items in {**docs, "all": every}.items():
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in items), encoding="utf-8")

    worker.wait_assigned()
    producing = [
        interop.node("produce.js", bootstrap=bootstrap, topic=names.input, format=fmt, schemas=interop.SCHEMAS,
                     docs=files["node"]),
        interop.java("Produce", bootstrap, names.input, fmt, interop.SCHEMAS, files["java"]),
    ]
    assert python_produce(bootstrap, names.input, docs["python"], fmt, interop.SCHEMAS) == len(TEXTS)
    for client in producing:
        assert client.result(CLIENT_TIMEOUT_S) == {"produced": len(TEXTS)}, client.what

    ids = {d["id"] for d in every}
    entities = TopicReader(bootstrap, names.entities, read_committed=exactly_once)
    redacted = TopicReader(bootstrap, names.redacted, read_committed=exactly_once)
    dlq = TopicReader(bootstrap, names.dlq)
    try:
        for reader in (entities, redacted):
            reader.at_least(len(ids), timeout=120)
        assert dlq.settle(0.5) == [], "a client's document was dead-lettered"
        if exactly_once:
            _abort_a_copy(bootstrap, entities, redacted)
            uncommitted = TopicReader(bootstrap, names.entities)  # the aborted copy is there to be skipped
            assert len(uncommitted.at_least(len(ids) + 1, timeout=30)) == len(ids) + 1
            uncommitted.close()
    finally:
        for reader in (entities, redacted, dlq):
            reader.close()

    consuming = [
        interop.node("consume.js", bootstrap=bootstrap, entities=names.entities, redacted=names.redacted,
                     format=fmt, schemas=interop.SCHEMAS, docs=files["all"], expect=len(ids),
                     timeout=CLIENT_TIMEOUT_S - 20),
        interop.java("Consume", bootstrap, names.entities, names.redacted, fmt, interop.SCHEMAS, files["all"],
                     len(ids), CLIENT_TIMEOUT_S - 20),
    ]
    for client in consuming:
        summary = client.result(CLIENT_TIMEOUT_S)
        assert summary["problems"] == [], client.what
        if exactly_once:  # read_committed: each document once, the aborted copies skipped
            assert Counter(summary["entities"]) == Counter({i: 1 for i in ids}), client.what
            assert Counter(summary["redacted"]) == Counter({i: 1 for i in ids}), client.what
        else:
            assert set(summary["entities"]) == ids and set(summary["redacted"]) == ids, client.what
        # every text has entities; many sit after astral characters, where UTF-16 offsets would differ
        assert summary["spans_checked"] >= 2 * len(ids), client.what
        assert summary["spans_past_astral"] >= len(PRODUCERS) * 3, client.what
    assert worker.process.poll() is None, worker.log_text()[-2000:]
    assert (codec or KafkaSettings.model_fields["compression_type"].default) in ("none", "gzip", "snappy")

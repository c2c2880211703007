"""Outputs the broker refuses for what they are (over the topic's ``max.message.bytes``): the
input is dead-lettered with its original bytes, every other record is delivered (including the
ones refused only for sharing a record batch with it), and the worker goes on.

Runs on the ``eos_broker`` fixture (noida-db, or the Apache Kafka of the fixtures), which
enforces the topic limit per record batch as Apache Kafka does; Tansu does not enforce it.
Exactly-once is covered by the unit tests only: on noida-db the worker does commit the right
transaction (abort, re-send alone, dead-letter, commit), but after the producer-epoch bumps
that refused records cause, noida-db's read_committed view of the topics stops advancing, so
there is nothing reliable to assert against."""

from __future__ import annotations

import pytest
from faker import Faker

from pipeline.kafka.dead_letters import read_error_headers
from tests.integration.conftest import TopicNames
from tests.integration.kafka.kafka_io import TopicReader, doc, produce

pytestmark = pytest.mark.integration

LIMIT = 1500  # the entities topic's max.message.bytes (after lz4): a short document's entity record fits
SHORT = ["Call Maria Garcia tomorrow.", "Email wei.chen@example.org now.", "Nothing personal here.",
         "John Smith called.", "Meet Aisha Okafor at noon."]


def _long_text() -> str:
    """40 people with e-mails and phones: about 120 entities, an entity record of about 7 kB that
    lz4 cannot squeeze under the limit."""
    fake = Faker("en_US")
    fake.seed_instance(11)
    return " ".join(f"Contact {fake.name()} at {fake.email()} or {fake.phone_number()}." for _ in range(40))


LONG = _long_text()


def test_a_refused_output_dead_letters_its_input_and_nothing_else(eos_broker, topics, in_process_worker):
    names = topics("input", "redacted", "dlq", broker=eos_broker)
    names = TopicNames({**names, **topics("entities", broker=eos_broker, config={"max.message.bytes": str(LIMIT)})})
    records = [(f"s{i}".encode(), doc(f"s{i}", t), None) for i, t in enumerate(SHORT[:3])]
    records.append((b"long", doc("long", LONG), [("trace", b"t1")]))
    records += [(f"s{i}".encode(), doc(f"s{i}", t), None) for i, t in enumerate(SHORT[3:], start=3)]
    produce(eos_broker.bootstrap, names.input, records, partition=0)  # one micro-batch: they share record batches
    in_process_worker(eos_broker.bootstrap, names, batch_max_records=16, batch_max_wait_ms=200)

    entities = TopicReader(eos_broker.bootstrap, names.entities)
    dlq = TopicReader(eos_broker.bootstrap, names.dlq)
    (letter,) = dlq.at_least(1, timeout=90)
    assert letter.key == b"long" and letter.value == doc("long", LONG)  # the original bytes
    errors = read_error_headers(letter.headers)
    assert errors["ner.error.class"] == "OutputRefusedError" and "refused" in errors["ner.error.message"]
    assert errors["ner.source.offset"] == "3"
    assert [h for h in letter.headers if not h[0].startswith("ner.")] == [("trace", b"t1")]
    got = entities.at_least(len(SHORT), timeout=60)
    assert sorted(r.json()["id"] for r in got) == sorted(f"s{i}" for i in range(len(SHORT)))

    produce(eos_broker.bootstrap, names.input, [(b"after", doc("after", "Later, Maria Garcia wrote."), None)],
            partition=0)  # the worker is still running and committing
    entities.until(lambda recs: any(r.key == b"after" for r in recs), timeout=60, what="the next record")
    assert len(entities.settle(1.0)) == len(SHORT) + 1  # no duplicates: each short document once
    assert len(dlq.settle(0.5)) == 1
    entities.close()
    dlq.close()

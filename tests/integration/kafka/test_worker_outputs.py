"""The worker's outputs on a real broker with the real model: completeness, equality with
the redactor's merged detections over NerService's spans, keys/headers/order kept, poison
records dead-lettered with their original bytes."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict

import httpx
import pytest

from pipeline.devtools.bench.common import sample_texts
from pipeline.devtools.processes import free_port
from pipeline.kafka.dead_letters import read_error_headers
from pipeline.kafka.status import WorkerStatus, serve_status
from pipeline.redact import Redactor, RedactSettings
from schemas.codec import AvroCodec
from tests.integration.kafka.kafka_io import TopicReader, doc, produce

pytestmark = pytest.mark.integration
ROLES = ("input", "entities", "redacted", "dlq")


def test_2000_documents_give_one_entity_and_one_redacted_record_each_equal_to_nerservice(
        kafka_broker, topics, in_process_worker, rampart_service):
    names = topics(*ROLES, partitions=3)
    texts = sample_texts(2000, 4, 14, seed=11)
    # half the records carry a key (keyed partitioning), half none (pinned to the input partition)
    records = [(f"k{i}".encode() if i % 2 == 0 else None, doc(f"d{i}", text), [("trace", f"t{i}".encode())])
               for i, text in enumerate(texts)]
    produce(kafka_broker.bootstrap, names.input, records)
    in_process_worker(kafka_broker.bootstrap, names)

    entities = TopicReader(kafka_broker.bootstrap, names.entities)
    redacted = TopicReader(kafka_broker.bootstrap, names.redacted)
    entities.at_least(2000, timeout=150)
    redacted.at_least(2000, timeout=30)
    ent_recs, red_recs = entities.settle(1.0), redacted.settle(0.5)

    assert Counter(r.json()["id"] for r in ent_recs) == Counter(f"d{i}" for i in range(2000))
    assert Counter(r.json()["id"] for r in red_recs) == Counter(f"d{i}" for i in range(2000))

    # the entity record is the document's one answer: the redactor's merged detections
    redactor = Redactor.from_settings(RedactSettings())
    expected = [redactor.redact_spans(t, ents).entities
                for t, ents in zip(texts, rampart_service.entities(texts), strict=True)]
    for rec in ent_recs:
        body = rec.json()
        i = int(body["id"][1:])
        assert rec.key == (f"k{i}".encode() if i % 2 == 0 else None)
        assert rec.headers == [("trace", f"t{i}".encode())]
        assert body["model"]["name"] == "rampart"
        assert body["source"]["topic"] == names.input
        spans = [(e["label"], e["start"], e["end"]) for e in body["entities"]]
        assert spans == [(e.label, e.start, e.end) for e in expected[i]], body["id"]
        for got, want in zip(body["entities"], expected[i], strict=True):
            assert got["text"] == texts[i][want.start : want.end]
            assert got["score"] == pytest.approx(want.score, abs=1e-5)

    found = sum(len(e) for e in expected)
    assert found > 1000  # the sample texts plant names, e-mails and phone numbers
    for rec in red_recs:
        body = rec.json()
        assert set(body) == {"id", "text", "entities"}
        assert all(set(e) == {"label", "start", "end"} for e in body["entities"])
        i = int(body["id"][1:])
        for e in body["entities"]:  # redacted values are gone from the text
            value = texts[i][e["start"] : e["end"]]
            if len(value) >= 4:
                assert value not in body["text"]

    # outputs of one input partition keep its order inside every output partition
    source_of = {r.json()["id"]: r.json()["source"] for r in ent_recs}
    for recs in (ent_recs, red_recs):
        lanes: dict[tuple[int, int], list[int]] = defaultdict(list)
        for rec in sorted(recs, key=lambda r: (r.partition, r.offset)):
            source = source_of[rec.json()["id"]]
            lanes[(rec.partition, source["partition"])].append(source["offset"])
        for lane in lanes.values():
            assert lane == sorted(lane)
    entities.close()
    redacted.close()


MARK = "zebraquokka"  # in every poison text: must never show up in error headers


def _poison(too_long: int) -> list[tuple[str, bytes | None, bytes | None, list]]:
    """(error class expected in the headers, key, value, headers) per kind of poison record."""
    return [
        ("InvalidUtf8Error", b"p-utf8", b'{"id": "u", "text": "zebraquokka caf\xe9 \xff"}', [("origin", b"legacy")]),
        ("MalformedRecordError", b"p-json", b"{not json zebraquokka", [("origin", b"\x00\x01raw")]),
        ("MalformedRecordError", b"p-tombstone", None, []),
        ("MalformedRecordError", b"p-empty-value", b"", []),
        # replaced, a lone surrogate would merge two ids; and our namespace is ours in any case
        ("InvalidUtf8Error", b"p-id-surrogate", b'{"id": "s\\ud800", "text": "zebraquokka"}',
         [("NER.error.class", b"planted"), ("trace", b"s")]),
        ("SchemaMismatchError", b"p-schema", json.dumps({"id": 7, "text": f"{MARK} id is not a string"}).encode(), []),
        ("SchemaMismatchError", b"p-array", json.dumps([MARK]).encode(), []),
        ("MissingTextError", None, json.dumps({"id": "m"}).encode(), [("trace", b"m")]),
        ("MissingTextError", b"p-empty", doc("e", ""), []),
        ("TextTooLongError", b"p-long", doc("l", f"{MARK} " * (too_long // 4)), []),
    ]


def test_poison_records_are_dead_lettered_with_original_bytes_while_good_ones_are_processed(
        kafka_broker, topics, in_process_worker):
    names = topics(*ROLES, partitions=2)
    poison = _poison(too_long=400)
    good = [(f"g{i}".encode(), doc(f"g{i}", text), [("trace", f"g{i}".encode())])
            for i, text in enumerate(sample_texts(40, 4, 10, seed=3))]
    # a lone surrogate is valid JSON: it becomes U+FFFD (offsets unchanged) and the record is processed
    good.append((b"g40", b'{"id": "g40", "text": "Mail john.smith@example.com \\ud800 now"}', []))
    mixed = good + [(key, value, headers) for _, key, value, headers in poison]
    random.Random(5).shuffle(mixed)
    produce(kafka_broker.bootstrap, names.input, mixed, partition=0)
    port = free_port()
    serve_status(port, WorkerStatus())
    in_process_worker(kafka_broker.bootstrap, names, max_text_chars=300, batch_max_records=16)

    dlq = TopicReader(kafka_broker.bootstrap, names.dlq)
    entities = TopicReader(kafka_broker.bootstrap, names.entities)
    dlq.at_least(len(poison), timeout=90)
    outputs = entities.at_least(len(good), timeout=60)
    assert {r.json()["id"] for r in outputs} == {f"g{i}" for i in range(41)}
    (lone,) = [r.json() for r in outputs if r.json()["id"] == "g40"]
    assert [(e["start"], e["end"], e["text"]) for e in lone["entities"] if e["label"] == "EMAIL"] == [
        (5, 27, "john.smith@example.com")]
    letters = dlq.settle(1.0)
    assert len(letters) == len(poison)
    offsets = {key: i for i, (key, _, _) in enumerate(mixed)}
    for name, key, value, headers in poison:
        (letter,) = [r for r in letters if r.key == key and r.value == value]
        errors = read_error_headers(letter.headers)
        assert errors["ner.error.class"] == name, errors
        assert errors["ner.error.message"]
        assert MARK not in " ".join(errors.values())
        assert errors["ner.source.topic"] == names.input
        assert errors["ner.source.partition"] == "0"
        assert errors["ner.source.offset"] == str(offsets[key])
        assert errors["ner.error.timestamp"].startswith("20")
        assert [h for h in letter.headers if not h[0].startswith("ner.")] == [
            h for h in headers if not h[0].lower().startswith("ner.")]
        assert "NER.error.class" not in errors  # a planted header in another case does not pass

    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'ner_kafka_dead_lettered_total{error="InvalidUtf8Error"}' in metrics
    assert "ner_kafka_batch_latency_seconds_count" in metrics
    assert 'ner_kafka_records_out_total{output="entities"}' in metrics
    assert "ner_kafka_consumer_lag{" in metrics
    dlq.close()
    entities.close()


def test_avro_records_round_trip_and_bad_avro_is_dead_lettered(kafka_broker, topics, in_process_worker):
    names = topics(*ROLES)
    codec = AvroCodec()
    texts = sample_texts(20, 4, 10, seed=9)
    good = [(None, codec.encode({"id": f"a{i}", "text": t, "metadata": {"lang": "en"}, "language": "en"},
                                "document", names.input), None) for i, t in enumerate(texts)]
    bad = (b"bad", b"\x02\x00\xff\xff\xff", None)
    produce(kafka_broker.bootstrap, names.input, [*good[:10], bad, *good[10:]])
    in_process_worker(kafka_broker.bootstrap, names, format="avro")

    readers = [TopicReader(kafka_broker.bootstrap, topic) for topic in (names.entities, names.redacted, names.dlq)]
    entities = readers[0].at_least(20, timeout=60)
    redacted = readers[1].at_least(20, timeout=30)
    letters = readers[2].at_least(1, timeout=30)
    for reader in readers:
        reader.close()
    assert sorted(codec.decode(r.value, "entity_result", names.entities)["id"] for r in entities) == sorted(
        f"a{i}" for i in range(20))
    assert all(set(codec.decode(r.value, "redacted_document", names.redacted)) == {"id", "text", "entities"}
               for r in redacted)
    assert letters[0].value == bad[1]
    assert read_error_headers(letters[0].headers)["ner.error.class"] == "SchemaMismatchError"

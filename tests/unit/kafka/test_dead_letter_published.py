"""Kafka LOW items of issue 21: which outputs went out before one was refused
(``ner.outputs.published``), ``ner.`` headers stripped in any case, a lone surrogate in an
``id`` dead-lettered (never merged with another id), an empty value malformed in every format."""

from __future__ import annotations

import pytest

from engines.bundle import load_bundle
from pipeline.kafka.dead_letters import read_error_headers, without_ours
from pipeline.kafka.documents import read_document
from pipeline.kafka.processor import BatchProcessor
from pipeline.kafka.settings import KafkaSettings
from pipeline.kafka.worker import Worker
from pipeline.redact import RedactSettings
from pipeline.service import NerService
from schemas.codec import AvroCodec, JsonCodec
from schemas.contracts import parsed_schema
from schemas.errors import InvalidUtf8Error, MalformedRecordError
from schemas.registry import RegistryAvroCodec
from schemas.writer_schema import decode_schemaless
from tests.fakes import FakeEngine
from tests.unit.kafka.fakes import doc_msgs, fake_clients

#: no PII in it, and pattern spans only: a small entity record, a large redacted one
PLAIN = "the river ran on and on past the mill. " * 60  # 2,340 characters



def _worker(**overrides) -> Worker:
    bundle = load_bundle()
    settings = KafkaSettings(bootstrap="fake:9092", input=["in"], entities_topic="ents", redacted_topic="red",
                             dlq_topic="dlq", batch_max_wait_ms=0, **overrides)
    processor = BatchProcessor(NerService(bundle, FakeEngine(bundle.num_labels)), JsonCodec(), entities_topic="ents",
                               redacted_topic="red", dlq_topic="dlq", max_text_chars=10_000,
                               redact=RedactSettings(model_spans=False))
    worker = Worker(settings, processor, clients=fake_clients())
    worker.consumer.raw.subscribe(["in"], on_assign=worker._on_assign, on_revoke=worker._on_revoke,
                                  on_lost=worker._on_lost)
    worker.consumer.raw.assign_now([("in", 0)])
    return worker


def _refuse_over(worker: Worker, limit: int) -> None:
    """The broker refuses records over ``limit`` at delivery (a topic's ``max.message.bytes``);
    dead letters are cut to fit it, as the worker does with the limits it reads at start."""
    worker.producer.raw.broker_max_bytes = worker.processor.letters.max_bytes = limit


def _run(worker: Worker, texts: list[str]) -> list[dict]:
    worker.consumer.raw.feed(doc_msgs("in", texts))
    for _ in range(20):
        worker.step()
        if not worker.consumer.raw.queue and not len(worker.batcher):
            break
    return worker.producer.raw.produced


def _published(letter: dict) -> bytes | None:
    return dict(letter["headers"]).get("ner.outputs.published")


def test_a_redacted_output_refused_after_the_entities_went_out_says_so():
    worker = _worker()
    _refuse_over(worker, 1000)
    produced = _run(worker, ["short", PLAIN])
    assert [(r["topic"], r["key"]) for r in produced if r["topic"] != "red" or r["key"] != b"k1"] == [
        ("ents", b"k0"), ("red", b"k0"), ("ents", b"k1"), ("dlq", b"k1")]
    (letter,) = [r for r in produced if r["topic"] == "dlq"]
    assert dict(letter["headers"])["ner.error.class"] == b"OutputRefusedError"
    assert _published(letter) == b"entities"  # a re-drive must not publish k1's entities again
    assert worker.consumer.raw.commits == [[("in", 0, 2)]]


def test_an_output_too_large_for_the_producer_names_what_went_out_before_it():
    worker = _worker()
    worker.producer.raw.max_bytes = worker.processor.letters.max_bytes = 1000  # produce() refuses the redacted record
    produced = _run(worker, [PLAIN])
    assert [r["topic"] for r in produced] == ["ents", "dlq"]
    assert dict(produced[1]["headers"])["ner.error.class"] == b"OutputTooLargeError"
    assert _published(produced[1]) == b"entities"


def test_a_dead_letter_of_a_bad_input_has_no_published_header_and_exactly_once_says_none_went_out():
    produced = _run(_worker(), ["ok", None])
    assert [r["topic"] for r in produced] == ["ents", "red", "dlq"] and _published(produced[2]) is None
    worker = _worker(delivery="exactly_once")
    _refuse_over(worker, 1000)
    for _ in range(3):  # refused in the batch, refused alone, dead-lettered when re-read (test_worker_loop)
        produced = _run(worker, [PLAIN])
    assert worker.producer.raw.transactions[-1] == "commit"
    assert _published(produced[-1]) == b""  # the aborted transactions published nothing


def test_ner_headers_are_ours_in_any_case():
    headers = [("NER.error.class", b"Fake"), ("Ner.Source.Topic", b"x"), ("ner.x", b"y"), ("nerve", b"ok"),
               ("trace", b"1")]
    assert without_ours(headers) == [("nerve", b"ok"), ("trace", b"1")]
    assert set(read_error_headers(headers)) == {"NER.error.class", "Ner.Source.Topic", "ner.x"}
    produced = _run(_worker(), ["ok"])
    assert all(not k.lower().startswith("ner.") for r in produced for k, _ in r["headers"] or [])


def test_a_lone_surrogate_in_an_id_is_dead_lettered_in_text_replaced():
    codec = JsonCodec()
    with pytest.raises(InvalidUtf8Error, match="id contains a lone surrogate"):
        read_document(codec, b'{"id": "a\\ud800", "text": "hi"}', "in", 100)
    assert read_document(codec, b'{"id": "a", "text": "h\\udc00i"}', "in", 100).text == "h\ufffdi"


@pytest.mark.parametrize("codec", [JsonCodec(), AvroCodec(), RegistryAvroCodec.__new__(RegistryAvroCodec)],
                         ids=["json", "avro", "avro-registry"])
def test_an_empty_value_is_malformed_in_every_format(codec):
    with pytest.raises(MalformedRecordError):
        codec.decode(b"", "document", "in")
    with pytest.raises(MalformedRecordError):  # schemaless Avro in the producer's own schema too
        decode_schemaless(b"", parsed_schema("document"))

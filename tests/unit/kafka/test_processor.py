"""BatchProcessor: per-record rules (dead letters, outputs, equality with NerService) on a fake engine."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engines.bundle import load_bundle
from pipeline.kafka.dead_letters import read_error_headers
from pipeline.kafka.errors import InferenceError, ProcessingError
from pipeline.kafka.processor import DEAD_LETTER, ENTITIES, REDACTED, BatchProcessor
from pipeline.redact import RedactSettings
from pipeline.service import NerService
from schemas.codec import AvroCodec, JsonCodec
from tests.fakes import FakeEngine
from tests.unit.kafka.fakes import FakeMsg, doc_msgs


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


class ExplodingEngine(FakeEngine):
    """Fails any engine call whose batch contains the token id of ``poison``'s first token."""

    def __init__(self, num_labels: int, poison_id: int, **kw) -> None:
        super().__init__(num_labels, **kw)
        self.poison_id = poison_id
        self.always = False

    def run(self, batch):
        if self.always or np.any(batch.input_ids == self.poison_id):
            raise RuntimeError("engine exploded")
        return super().run(batch)


def make(bundle, engine=None, codec=None, **kw):
    service = NerService(bundle, engine or FakeEngine(bundle.num_labels, max_seq_len=48), stride=8)
    options = {"entities_topic": "ents", "redacted_topic": "red", "dlq_topic": "dlq", "max_text_chars": 1000}
    options.update(kw)
    return service, BatchProcessor(service, codec or JsonCodec(), redact=RedactSettings(), **options)


TEXTS = ["John Smith wrote to john@example.com", "nothing to see here", "Call Maria on +1 202 555 0143 today",
         " ".join(f"word{i} Alice" for i in range(60))]  # longer than the 48-token window: several windows


def test_entities_equal_nerservice_and_outputs_keep_key_headers_and_order(bundle):
    service, processor = make(bundle)
    msgs = doc_msgs("in", TEXTS, partition=2, start=10)
    outputs = processor.run(processor.prepare(msgs))
    assert [o.kind for o in outputs] == [ENTITIES, REDACTED] * len(TEXTS)
    # One answer per document: the redactor's merged detections over the service's spans.
    expected = [processor.redactor.redact_spans(t, ents).entities
                for t, ents in zip(TEXTS, service.entities(TEXTS), strict=True)]
    for i, (ent, red) in enumerate(zip(outputs[::2], outputs[1::2], strict=True)):
        body = json.loads(ent.value)
        assert body["id"] == f"2-{10 + i}"
        assert body["source"] == {"topic": "in", "partition": 2, "offset": 10 + i}
        assert [(e["label"], e["start"], e["end"]) for e in body["entities"]] == [
            (e.label, e.start, e.end) for e in expected[i]]
        assert all(e["text"] == TEXTS[i][e["start"] : e["end"]] for e in body["entities"])
        assert [e["source"] for e in body["entities"]] == [e.source for e in expected[i]]
        assert ent.key == red.key == f"k{10 + i}".encode()
        assert ent.headers == red.headers == [("h", b"v")]
        assert ent.partition == 2
        redacted = json.loads(red.value)
        assert set(redacted) == {"id", "text", "entities"}
        assert all(set(e) == {"label", "start", "end"} for e in redacted["entities"])
        assert redacted["entities"] == [{k: e[k] for k in ("label", "start", "end")} for e in body["entities"]]
    assert "john@example.com" not in json.loads(outputs[1].value)["text"]


def test_each_kind_of_poison_record_becomes_one_dead_letter_with_original_bytes(bundle):
    _, processor = make(bundle, max_text_chars=50)
    values = [b"\xff\xfe", b"not json", b"[1, 2]", json.dumps({"id": 1, "text": "x"}).encode(),
              json.dumps({"id": "a"}).encode(), json.dumps({"id": "b", "text": ""}).encode(),
              json.dumps({"id": "c", "text": "y" * 51}).encode(), None]
    expected = ["InvalidUtf8Error", "MalformedRecordError", "SchemaMismatchError", "SchemaMismatchError",
                "MissingTextError", "MissingTextError", "TextTooLongError", "MalformedRecordError"]
    msgs = [FakeMsg("in", 0, i, v, key=f"p{i}".encode(), headers=[("orig", b"1")]) for i, v in enumerate(values)]
    good = doc_msgs("in", ["fine text"], start=len(values))
    outputs = processor.run(processor.prepare(msgs + good))
    letters = [o for o in outputs if o.kind == DEAD_LETTER]
    assert [read_error_headers(o.headers)["ner.error.class"] for o in letters] == expected
    for i, letter in enumerate(letters):
        assert (letter.key, letter.value) == (f"p{i}".encode(), values[i])
        assert letter.headers[0] == ("orig", b"1")
        errors = read_error_headers(letter.headers)
        assert errors["ner.source.offset"] == str(i) and errors["ner.source.topic"] == "in"
        assert errors["ner.source.timestamp"] == "1700000000000"
    assert [o.kind for o in outputs[-2:]] == [ENTITIES, REDACTED]


def _exploding_on_xylophone(bundle):
    probe = NerService(bundle, FakeEngine(bundle.num_labels))
    (poison,) = probe.encode(["xylophone"])
    return ExplodingEngine(bundle.num_labels, int(poison.ids[0]), max_seq_len=48)


def test_an_engine_error_is_a_stage_error_by_default_nothing_is_dead_lettered(bundle):
    _, processor = make(bundle, _exploding_on_xylophone(bundle))
    with pytest.raises(InferenceError):
        processor.run(processor.prepare(doc_msgs("in", ["good one", "xylophone here", "good two"])))


def test_on_error_dead_letter_retries_alone_and_dead_letters_only_the_failing_record(bundle):
    _, processor = make(bundle, _exploding_on_xylophone(bundle), on_error="dead-letter")
    msgs = doc_msgs("in", ["good one", "xylophone here", "good two"])
    outputs = processor.run(processor.prepare(msgs))
    assert [o.kind for o in outputs] == [ENTITIES, REDACTED, DEAD_LETTER, ENTITIES, REDACTED]
    errors = read_error_headers(outputs[2].headers)
    assert errors["ner.error.class"] == "RecordFailedError"
    assert "RuntimeError" in errors["ner.error.message"] and "exploded" not in errors["ner.error.message"]


class _BrokenRedactor:
    """A redactor with a bug: it fails for every document."""

    def redact_spans(self, text, spans, policy=None):
        raise RuntimeError(f"bug while redacting {text!r}")


def test_a_redactor_bug_stops_the_batch_instead_of_dead_lettering_every_record(bundle):
    _, processor = make(bundle)
    processor.redactor = _BrokenRedactor()
    with pytest.raises(ProcessingError) as info:
        processor.run(processor.prepare(doc_msgs("in", ["Call Maria Garcia", "hello"])))
    assert "Maria" not in str(info.value) and "RuntimeError" in str(info.value)
    _, tolerant = make(bundle, on_error="dead-letter")
    tolerant.redactor = _BrokenRedactor()
    outputs = tolerant.run(tolerant.prepare(doc_msgs("in", ["Call Maria Garcia", "hello"])))
    assert [o.kind for o in outputs] == [DEAD_LETTER, DEAD_LETTER]


def test_redacted_output_reuses_the_entity_spans_the_model_found(bundle):
    service, processor = make(bundle)
    calls = []
    real = processor.redactor.redact_spans
    processor.redactor.redact_spans = lambda text, spans, policy=None: calls.append(list(spans)) or real(text, spans)
    outputs = processor.run(processor.prepare(doc_msgs("in", TEXTS[:2])))
    assert calls == service.entities(TEXTS[:2])  # span-in: the model ran once per document
    assert [o.kind for o in outputs] == [ENTITIES, REDACTED] * 2


def test_planted_ner_headers_are_dropped_from_outputs(bundle):
    _, processor = make(bundle)
    msg = FakeMsg("in", 0, 0, json.dumps({"id": "a", "text": "hello"}).encode(), key=b"k",
                  headers=[("trace", b"1"), ("ner.error.class", b"Fake"), ("ner.source.offset", b"9")])
    outputs = processor.run(processor.prepare([msg]))
    assert [o.headers for o in outputs] == [[("trace", b"1")], [("trace", b"1")]]


def test_deeply_nested_records_are_dead_lettered_and_lone_surrogates_become_replacement_chars(bundle):
    _, processor = make(bundle)
    deep = b'{"id": "d", "text": "x", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    surrogate = b'{"id": "s", "text": "bad \\ud800 here"}'  # a JSON escape for a lone surrogate
    outputs = processor.run(processor.prepare([FakeMsg("in", 0, 0, deep), FakeMsg("in", 0, 1, surrogate)]))
    assert read_error_headers(outputs[0].headers)["ner.error.class"] == "MalformedRecordError"
    assert outputs[0].value == deep
    # the surrogate record is processed like on every HTTP path: U+FFFD, offsets unchanged, no dead letter
    assert [o.kind for o in outputs[1:]] == [ENTITIES, REDACTED]
    redacted = json.loads(outputs[2].value)
    assert "\ufffd" in redacted["text"]  # the fake engine tags every word; the surrogate stays one character


def test_engine_failing_on_every_record_stops_the_batch_instead_of_dead_lettering_it(bundle):
    engine = ExplodingEngine(bundle.num_labels, -1, max_seq_len=48)
    engine.always = True
    _, processor = make(bundle, engine)
    with pytest.raises(InferenceError):
        processor.run(processor.prepare(doc_msgs("in", ["a b", "c d"])))


def test_disabled_outputs_and_dlq(bundle):
    _, processor = make(bundle, entities_topic=None, dlq_topic=None)
    outputs = processor.run(processor.prepare([FakeMsg("in", 0, 0, b"bad"), *doc_msgs("in", ["ok"], start=1)]))
    assert [o.kind for o in outputs] == [REDACTED]


def test_avro_outputs_decode_with_the_contracts(bundle):
    codec = AvroCodec()
    _, processor = make(bundle, codec=codec)
    value = codec.encode({"id": "a", "text": "Mail john@example.com", "metadata": None, "language": None},
                         "document", "in")
    outputs = processor.run(processor.prepare([FakeMsg("in", 0, 0, value)]))
    assert codec.decode(outputs[0].value, "entity_result", "ents")["id"] == "a"
    assert "john@example.com" not in codec.decode(outputs[1].value, "redacted_document", "red")["text"]


def test_prepare_tokenizes_once_and_reports_padded_tokens(bundle):
    service, processor = make(bundle)
    pending = processor.prepare([*doc_msgs("in", ["one two three", "four"]), FakeMsg("in", 0, 9, b"x")])
    special = len(service.encoder.prefix) + len(service.encoder.suffix)  # [CLS] and [SEP] are computed too
    assert [p.tokens for p in pending] == [service.count_tokens("one two three") + special,
                                           service.count_tokens("four") + special, 0]


def test_in_place_outputs_are_the_input_records_pinned_to_the_input_partition(bundle):
    from pipeline.records.build import build_view
    from pipeline.records.settings import RecordSettings

    _, processor = make(bundle)
    processor._model_spans = False  # the fake engine's spans are noise: patterns only
    processor.view = build_view(RecordSettings(text_fields=["a", "b[*]"], redacted_mode="in-place"), "json",
                                max_chars=1000)
    untouched = b'{"a": "no pii", "z": 1}'
    msgs = [FakeMsg("in", 3, 7, b'{"z": 1, "a": "mail john@example.com", "b": ["or x@example.org", null]}',
                    key=b"k", headers=[("h", b"v"), ("ner.error.class", b"fake")]),
            FakeMsg("in", 3, 8, untouched, key=None),
            FakeMsg("in", 3, 9, b'{"a": 5}', key=b"bad")]
    outputs = processor.run(processor.prepare(msgs))
    assert [o.kind for o in outputs] == [ENTITIES, REDACTED, ENTITIES, REDACTED, DEAD_LETTER]
    first, second = outputs[1], outputs[3]
    assert first.pinned and first.partition == 3 and first.key == b"k" and first.headers == [("h", b"v")]
    assert json.loads(first.value) == {"z": 1, "a": "mail <EMAIL>", "b": ["or <EMAIL>", None]}
    assert list(json.loads(first.value)) == ["z", "a", "b"]
    assert second.value is untouched  # nothing to rewrite: the original bytes
    entities = json.loads(outputs[0].value)["entities"]
    assert [(e["field"], e["text"]) for e in entities] == [("a", "john@example.com"), ("b[0]", "x@example.org")]
    assert read_error_headers(outputs[4].headers)["ner.error.class"] == "FieldTypeError"

"""Record codecs: JSON, schemaless Avro and Schema Registry framing map every failure onto a typed error."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas.codec import AvroCodec, JsonCodec, create_codec
from schemas.contracts import check_shape
from schemas.errors import CodecError, InvalidUtf8Error, MalformedRecordError, SchemaMismatchError

DOC = {"id": "d1", "text": "Zoë met José", "metadata": {"source": "crm"}, "language": "en"}
RESULT = {"id": "d1", "source": {"topic": "in", "partition": 1, "offset": 7}, "model": {"name": "m", "revision": "r"},
          "entities": [{"label": "NAME", "start": 0, "end": 3, "text": "Zoë", "score": 0.9, "source": "spacy",
                        "field": "text"}],
          "processed_at": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)}


@pytest.mark.parametrize("codec", [JsonCodec(), AvroCodec()], ids=["json", "avro"])
def test_round_trip_of_every_contract(codec):
    assert codec.decode(codec.encode(DOC, "document", "t"), "document", "t") == DOC
    back = codec.decode(codec.encode(RESULT, "entity_result", "t"), "entity_result", "t")
    assert back["entities"] == RESULT["entities"]
    redacted = {"id": "d1", "text": "<NAME> met <NAME>", "entities": [{"label": "NAME", "start": 0, "end": 3}]}
    assert codec.decode(codec.encode(redacted, "redacted_document", "t"), "redacted_document", "t") == redacted


def test_json_errors_are_typed():
    codec = JsonCodec()
    with pytest.raises(InvalidUtf8Error):
        codec.decode(b'{"id": "a", "text": "\xff"}', "document", "t")
    with pytest.raises(MalformedRecordError):
        codec.decode(b"{nope", "document", "t")
    with pytest.raises(MalformedRecordError):
        codec.decode(None, "document", "t")
    with pytest.raises(SchemaMismatchError):
        codec.decode(b"[]", "document", "t")


def test_shape_errors_name_fields_not_values():
    with pytest.raises(SchemaMismatchError) as info:
        check_shape({"id": 5, "text": "secret value"}, "document")
    assert "secret value" not in str(info.value)


def test_avro_with_trailing_or_garbage_bytes_is_a_mismatch():
    codec = AvroCodec()
    good = codec.encode(DOC, "document", "t")
    with pytest.raises(SchemaMismatchError):
        codec.decode(good + b"\x00\x00", "document", "t")
    with pytest.raises(SchemaMismatchError):
        codec.decode(b"\x02\x00\xff\xff\xff", "document", "t")


def test_unknown_format_and_missing_registry_url():
    with pytest.raises(CodecError):
        create_codec("xml")
    with pytest.raises(CodecError):
        create_codec("avro-registry")


def test_json_lone_surrogates_become_u_fffd_and_the_outputs_encode():
    """Valid JSON may spell a lone surrogate; the document is processed (offsets unchanged),
    not dead-lettered because its outputs could not be written as UTF-8. Not in its ``id``: two
    ids would become one (``InvalidUtf8Error``, dead-lettered)."""
    codec = JsonCodec()
    raw = b'{"id": "s", "text": "mail \\ud800 John \\ud83d\\ude00", "metadata": {"k\\udc00": "v"}}'
    record = check_shape(codec.decode(raw, "document", "t"), "document")
    assert record == {"id": "s", "text": "mail \ufffd John \U0001f600", "metadata": {"k\ufffd": "v"}}
    with pytest.raises(InvalidUtf8Error, match="id contains a lone surrogate"):
        codec.decode(b'{"id": "s\\udfff", "text": "t"}', "document", "t")
    assert len(record["text"]) == len(json.loads(raw)["text"])
    redacted = {"id": record["id"], "text": record["text"], "entities": [{"label": "NAME", "start": 7, "end": 11}]}
    assert codec.decode(codec.encode(redacted, "redacted_document", "t"), "redacted_document", "t") == redacted
    with pytest.raises(SchemaMismatchError):
        codec.decode(b'{"id": "\\ud800", "text": ' + b"[" * 20 + b"]" * 20 + b"}", "document", "t")

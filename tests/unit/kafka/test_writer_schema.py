"""Schemaless Avro in the producer's own schema (``--input-schema FILE.avsc``): decode, rewrite, re-encode.

The registry variant is tested against a real registry in tests/integration/test_schema_registry.py.
"""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from schemas.errors import CodecError, InvalidUtf8Error, MalformedRecordError, RecordError, SchemaMismatchError
from schemas.writer_schema import decode_schemaless, encode_with_schema, load_input_schema

ORDER = {"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "long"},
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "lines", "type": {"type": "array", "items": {"type": "record", "name": "Line", "fields": [
        {"name": "sku", "type": "string"}, {"name": "text", "type": "string"}]}}},
    {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["OPEN", "DONE"]}},
]}
RECORD = {"id": 3, "note": "call Zoë", "lines": [{"sku": "A-1", "text": "for José"}], "state": "OPEN"}


@pytest.fixture
def schema_file(tmp_path):
    path = tmp_path / "order.avsc"
    path.write_text(json.dumps(ORDER))
    return path


def _producer_bytes(record: dict) -> bytes:
    """What another producer writes: fastavro's own writer, not ours."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(ORDER), record)
    return buffer.getvalue()


def test_round_trip_keeps_every_field_and_writes_no_framing(schema_file):
    schema = load_input_schema(schema_file)
    value = _producer_bytes(RECORD)
    record = decode_schemaless(value, schema)
    assert record == RECORD
    assert encode_with_schema(record, schema, None) == value  # unmodified: byte-for-byte
    redacted = {**record, "note": "call <NAME>", "lines": [{"sku": "A-1", "text": "for <NAME>"}]}
    out = encode_with_schema(redacted, schema, None)
    assert fastavro.schemaless_reader(io.BytesIO(out), fastavro.parse_schema(ORDER)) == redacted


def test_bad_values_are_record_errors_naming_no_value(schema_file):
    schema = load_input_schema(schema_file)
    value = _producer_bytes(RECORD)
    for bad, error in ((None, MalformedRecordError), (value + b"\x00", SchemaMismatchError),
                       (value[:-3], SchemaMismatchError), (b"\x06\x02\x06\xff\xfe\xfd", InvalidUtf8Error)):
        with pytest.raises(error):
            decode_schemaless(bad, schema)
        assert issubclass(error, RecordError)
    # a rewrite that no longer fits the schema: the message names the field, never the value
    for broken, field in (({**RECORD, "lines": [{"sku": "A-1", "text": 7}]}, "lines"),
                          ({**RECORD, "note": ["Zoë"]}, "note"), ({**RECORD, "state": "José"}, None),
                          ({**RECORD, "id": "Zoë"}, "id"), ({**RECORD, "note": "Zoë \ud800"}, None)):
        with pytest.raises(SchemaMismatchError) as info:
            encode_with_schema(broken, schema, None)
        message = str(info.value)
        assert "Zoë" not in message and "José" not in message and "7" not in message, message
        assert field is None or message.endswith(f"on field {field}"), message


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not an Avro schema"),
    ('{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}', "is not an Avro schema"),
    ('"string"', "must be an Avro record schema"),
    ('["null", "string"]', "must be an Avro record schema"),
])
def test_an_unusable_input_schema_is_a_startup_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "input.avsc"
    path.write_text(content)
    with pytest.raises(CodecError, match=message) as info:
        load_input_schema(path)
    assert str(path) in str(info.value) and not isinstance(info.value, RecordError)
    with pytest.raises(CodecError, match="cannot read"):
        load_input_schema(tmp_path / "missing.avsc")

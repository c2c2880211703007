"""Avro with a real Schema Registry (Apicurio, Confluent-compatible API; no broker needed).

The producer's own schema end to end: confluent-kafka's ``AvroSerializer`` writes a value, the
stage decodes it with the writer schema fetched by id, rewrites strings, re-encodes it with the
same schema under the same id, and confluent-kafka's ``AvroDeserializer`` reads the result.
Also: the contract codec (``avro-registry``) against the same registry, schema evolution,
a 409 for an incompatible schema, and the typed errors (record vs registry).
"""

from __future__ import annotations

import copy
import json

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from pipeline.devtools.processes import free_port
from schemas.codec import create_codec
from schemas.contracts import schema_text, write_avro
from schemas.errors import MalformedRecordError, RecordError, RegistryError, SchemaMismatchError
from schemas.registry import RegistryAvroCodec, frame, registry_client, unframe
from schemas.writer_schema import decode_with_writer_schema, encode_with_schema
from tests.integration.schema_registry import unique_subject

pytestmark = pytest.mark.integration

TICKET_V1 = {
    "type": "record", "name": "Ticket", "namespace": "com.example.support",
    "fields": [
        {"name": "ticket_id", "type": "long"},
        {"name": "subject", "type": "string"},
        {"name": "body", "type": ["null", "string"], "default": None},
        {"name": "priority", "type": {"type": "enum", "name": "Priority", "symbols": ["LOW", "HIGH"]}},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
            {"name": "email", "type": "string"},
            {"name": "note", "type": ["null", "string"], "default": None}]}},
        {"name": "comments", "type": {"type": "array", "items": {"type": "record", "name": "Comment", "fields": [
            {"name": "author", "type": "string"},
            {"name": "text", "type": "string"}]}}},
    ],
}
#: BACKWARD-compatible: a new optional field with a default
TICKET_V2 = {**TICKET_V1, "fields": [*TICKET_V1["fields"], {"name": "channel", "type": ["null", "string"],
                                                             "default": None}]}
TICKET = {"ticket_id": 9_007_199_254_740_993, "subject": "Call from Zoë Müller", "body": None, "priority": "HIGH",
          "customer": {"email": "zoe@example.com", "note": "prefers José"},
          "comments": [{"author": "agent-7", "text": "Spoke to Zoë"}, {"author": "bot", "text": "ok 🙂"}]}


def _redact(record: dict) -> dict:
    """What in-place redaction does to a record: rewrite some strings, leave everything else alone."""
    out = copy.deepcopy(record)
    out["subject"] = "Call from <NAME>"
    out["customer"]["note"] = "prefers <NAME>"
    out["comments"][0]["text"] = "Spoke to <NAME>"
    return out


def _serde(url: str, schema: dict, subject_topic: str):
    client = registry_client(url)
    serializer = AvroSerializer(client, json.dumps(schema), conf={"auto.register.schemas": True})
    deserializer = AvroDeserializer(client)
    ctx = SerializationContext(subject_topic, MessageField.VALUE)
    return serializer, deserializer, ctx


def test_a_producer_record_is_decoded_rewritten_and_reencoded_under_its_own_schema_id(schema_registry):
    topic = unique_subject("tickets").removesuffix("-value")
    serializer, deserializer, ctx = _serde(schema_registry.url, TICKET_V1, topic)
    value = serializer(TICKET, ctx)
    codec = RegistryAvroCodec.connect(schema_registry.url, {})

    record, writer_schema, schema_id = decode_with_writer_schema(value, codec)
    assert record == TICKET and schema_id == unframe(value)[0]  # every field kept: no contract in between
    out = encode_with_schema(_redact(record), writer_schema, schema_id)

    assert unframe(out)[0] == schema_id  # downstream consumers see the same schema id
    assert deserializer(out, ctx) == _redact(TICKET)  # and a stock Confluent client reads it
    assert encode_with_schema(record, writer_schema, schema_id) == value  # unmodified: byte-for-byte
    # a rewrite that breaks the schema is this record's error, naming no value
    broken = {**record, "subject": 42}
    with pytest.raises(SchemaMismatchError) as info:
        encode_with_schema(broken, writer_schema, schema_id)
    assert "Zoë" not in str(info.value)


def test_schema_evolution_each_version_keeps_its_own_writer_schema_and_id(schema_registry):
    topic = unique_subject("evolving").removesuffix("-value")
    ser_v1, deserializer, ctx = _serde(schema_registry.url, TICKET_V1, topic)
    ser_v2, _, _ = _serde(schema_registry.url, TICKET_V2, topic)  # registers v2 under the BACKWARD rule
    old, new = ser_v1(TICKET, ctx), ser_v2({**TICKET, "channel": "phone"}, ctx)
    assert unframe(old)[0] != unframe(new)[0]
    codec = RegistryAvroCodec.connect(schema_registry.url, {})
    for value, expected in ((old, TICKET), (new, {**TICKET, "channel": "phone"})):
        record, writer_schema, schema_id = decode_with_writer_schema(value, codec)
        assert record == expected and schema_id == unframe(value)[0]
        out = encode_with_schema(_redact(record), writer_schema, schema_id)
        assert unframe(out)[0] == schema_id and deserializer(out, ctx) == _redact(expected)
    # an incompatible v3 (a new field without a default) is refused by the registry
    v3 = {**TICKET_V1, "fields": [*TICKET_V1["fields"], {"name": "sla_hours", "type": "int"}]}
    with pytest.raises(SchemaRegistryError) as info:
        codec.client.register_schema(f"{topic}-value", Schema(json.dumps(v3), "AVRO"))
    assert info.value.http_status_code == 409


def test_bad_values_are_record_errors_and_a_registry_that_is_down_is_not(schema_registry):
    codec = RegistryAvroCodec.connect(schema_registry.url, {})
    schema_id = codec.client.register_schema(unique_subject("bad"), Schema(json.dumps(TICKET_V1), "AVRO"))
    for value, error in ((None, MalformedRecordError), (b"\x01\x00\x00\x00\x01abc", MalformedRecordError),
                         (b"\x00", MalformedRecordError), (frame(2_000_000_000, b"\x02"), SchemaMismatchError),
                         (frame(schema_id, b"\x02"), SchemaMismatchError),
                         (frame(schema_id, b"\xff" * 12), SchemaMismatchError)):
        with pytest.raises(error):
            decode_with_writer_schema(value, codec)
    json_schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}
    json_id = codec.client.register_schema(unique_subject("json"), Schema(json.dumps(json_schema), "JSON"))
    with pytest.raises(SchemaMismatchError, match="not Avro"):
        decode_with_writer_schema(frame(json_id, b"{}"), codec)
    good = encode_with_schema(TICKET, codec.writer_schema(schema_id), schema_id)
    with pytest.raises(SchemaMismatchError, match="left after the record"):
        decode_with_writer_schema(good + b"\x00", codec)
    # nothing listens there: a stage error (retry the batch), never a dead letter for the record
    down = RegistryAvroCodec.connect(f"http://127.0.0.1:{free_port()}/apis/ccompat/v7", {"max.retries": 0})
    with pytest.raises(RegistryError) as info:
        decode_with_writer_schema(good, down)
    assert not isinstance(info.value, RecordError)


def test_the_contract_codec_resolves_producer_schemas_with_extra_fields(schema_registry):
    """Today's ``avro-registry`` format (our document contract), formerly tested on ``mock://``."""
    codec = create_codec("avro-registry", registry_url=schema_registry.url)
    assert isinstance(codec, RegistryAvroCodec)
    result = {"id": "d1", "source": {"topic": "in", "partition": 1, "offset": 7},
              "model": {"name": "m", "revision": "r"}, "processed_at": 1_767_323_045_678,
              "entities": [{"label": "NAME", "start": 0, "end": 3, "text": "Zoë", "score": 0.9, "source": "spacy"}]}
    topic = unique_subject("ents").removesuffix("-value")
    data = codec.encode(result, "entity_result", topic)
    decoded = codec.decode(data, "entity_result", topic)
    assert data[0] == 0 and decoded["id"] == "d1" and decoded["entities"][0]["text"] == "Zoë"
    # the output schema was registered under <topic>-value (TopicNameStrategy)
    assert codec.client.get_latest_version(f"{topic}-value").schema_id == unframe(data)[0]
    # a producer whose schema adds an optional field still decodes against the contract
    doc = {"id": "d1", "text": "Zoë met José", "metadata": {"source": "crm"}, "language": "en"}
    extended = json.loads(schema_text("document"))
    extended["fields"].append({"name": "tenant", "type": ["null", "string"], "default": None})
    writer_id = codec.client.register_schema(unique_subject("docs"), Schema(json.dumps(extended), "AVRO"))
    body = write_avro({**doc, "tenant": "acme"}, fastavro.parse_schema(extended), "document")
    assert codec.decode(frame(writer_id, body), "document", "docs") == doc

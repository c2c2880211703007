"""Avro with the producer's own schema, in place, on Apache Kafka and a real Schema Registry
(Apicurio): the worker reads each record with its writer schema (by id), redacts the scanned
strings and writes the record back under the same schema id; a stock confluent-kafka
``AvroDeserializer`` reads the output, equal to the input except the redacted strings. The
producer evolves its schema mid-stream (a BACKWARD-compatible v2 with a new optional field):
records of both versions keep their own writer schema."""

from __future__ import annotations

import copy
import json

import pytest
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from pipeline.records.settings import RecordSettings
from schemas.registry import registry_client, unframe
from tests.integration.kafka.kafka_io import TopicReader, produce

pytestmark = pytest.mark.integration
ROLES = ("input", "entities", "redacted", "dlq")
PATHS = ["subject", "body", "customer.note", "comments[*].text"]
V1 = {"type": "record", "name": "Ticket", "namespace": "com.example.support", "fields": [
    {"name": "ticket_id", "type": "long"},
    {"name": "subject", "type": "string"},
    {"name": "body", "type": ["null", "string"], "default": None},
    {"name": "priority", "type": {"type": "enum", "name": "Priority", "symbols": ["LOW", "HIGH"]}},
    {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
        {"name": "email", "type": "string"}, {"name": "note", "type": ["null", "string"], "default": None}]}},
    {"name": "comments", "type": {"type": "array", "items": {"type": "record", "name": "Comment", "fields": [
        {"name": "author", "type": "string"}, {"name": "text", "type": "string"}]}}}]}
V2 = {**V1, "fields": [*V1["fields"], {"name": "channel", "type": ["null", "string"], "default": None}]}
PEOPLE = [("Maria Garcia", "maria.garcia@example.org"), ("John Smith", "john.smith@example.com")]


def _ticket(i: int, v2: bool) -> dict:
    name, email = PEOPLE[i % 2]
    record = {"ticket_id": 9_007_199_254_740_993 + i, "subject": f"Call from {name}",
              "body": None if i % 3 == 0 else f"{name} asked for a refund, reply to {email}.",
              "priority": "HIGH" if i % 2 else "LOW",
              "customer": {"email": email, "note": f"prefers {name.split()[0]}" if i % 2 else None},
              "comments": [{"author": "agent-7", "text": f"Spoke to {name.split()[0]}"},
                           {"author": "bot", "text": "Refund approved 🙂"}]}
    return {**record, "channel": "phone"} if v2 else record


def _unscanned(record: dict) -> dict:
    out = copy.deepcopy(record)
    for key in ("subject", "body"):
        out.pop(key)
    out["customer"].pop("note")
    for comment in out["comments"]:
        comment.pop("text")
    return out


def test_avro_records_in_place_keep_their_writer_schema_and_id_across_an_evolution(
        kafka_broker, topics, in_process_worker, schema_registry):
    names = topics(*ROLES, partitions=2)
    client = registry_client(schema_registry.url)
    ctx = SerializationContext(names.input, MessageField.VALUE)
    v1 = AvroSerializer(client, json.dumps(V1), conf={"auto.register.schemas": True})
    v2 = AvroSerializer(client, json.dumps(V2), conf={"auto.register.schemas": True})
    tickets = [_ticket(i, v2=i >= 6) for i in range(12)]  # v2 registered mid-stream
    values = [(v2 if i >= 6 else v1)(t, ctx) for i, t in enumerate(tickets)]
    assert unframe(values[0])[0] != unframe(values[-1])[0]
    produce(kafka_broker.bootstrap, names.input, [(f"t{i}".encode(), v, None) for i, v in enumerate(values)])
    in_process_worker(kafka_broker.bootstrap, names, RecordSettings(
        text_fields=PATHS, id_field="ticket_id", redacted_mode="in-place"),
        format="avro-registry", schema_registry_url=schema_registry.url)

    redacted = TopicReader(kafka_broker.bootstrap, names.redacted).at_least(12, timeout=120)
    entities = TopicReader(kafka_broker.bootstrap, names.entities).at_least(12, timeout=30)
    read = AvroDeserializer(client)
    for rec in redacted:
        i = int(rec.key[1:])
        assert unframe(rec.value)[0] == unframe(values[i])[0]  # the input's own schema id
        out = read(rec.value, SerializationContext(names.redacted, MessageField.VALUE))
        assert _unscanned(out) == _unscanned(tickets[i])  # long, enum, nested record, email, channel: unchanged
        name, email = PEOPLE[i % 2]
        scanned = json.dumps([out["subject"], out["body"], out["customer"]["note"], out["comments"]])
        assert name.split()[0] not in scanned and email not in scanned and "<" in out["subject"]
        assert (out["body"] is None) == (tickets[i]["body"] is None)  # a null stays null
    entity_read = AvroDeserializer(client)
    for rec in entities:
        body = entity_read(rec.value, SerializationContext(names.entities, MessageField.VALUE))
        ticket = tickets[int(rec.key[1:])]
        assert body["id"] == str(ticket["ticket_id"])
        fields = {"subject": ticket["subject"], "body": ticket["body"], "customer.note": ticket["customer"]["note"],
                  **{f"comments[{j}].text": c["text"] for j, c in enumerate(ticket["comments"])}}
        for e in body["entities"]:
            assert fields[e["field"]][e["start"] : e["end"]] == e["text"]

"""The entity record's ``source`` (v1.1) and ``field`` (v1.2) are backward-compatible additions
(defaults, no removal): old readers read new records, new readers read old records (as
``source="model"``, ``field="text"``)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import fastavro

from schemas.contracts import schema_text

NEW = fastavro.parse_schema(json.loads(schema_text("entity_result")))


def _old_schema() -> dict:
    """The v1.0 schema: the same, without the entity's ``source`` and ``field``."""
    schema = json.loads(schema_text("entity_result"))
    entity = next(f for f in schema["fields"] if f["name"] == "entities")["type"]["items"]
    entity["fields"] = [f for f in entity["fields"] if f["name"] not in ("source", "field")]
    return schema


OLD = fastavro.parse_schema(_old_schema())
RECORD = {"id": "d1", "source": {"topic": "in", "partition": 0, "offset": 3}, "model": {"name": "m", "revision": "r"},
          "entities": [{"label": "NAME", "start": 0, "end": 5, "text": "Selam", "score": 0.9, "source": "propagated",
                        "field": "comments[2].text"}],
          "processed_at": datetime(2026, 1, 2, tzinfo=UTC)}


def _write(schema, record) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    return buf.getvalue()


def test_old_readers_read_new_records():
    back = fastavro.schemaless_reader(io.BytesIO(_write(NEW, RECORD)), NEW, OLD)
    assert back["entities"] == [{"label": "NAME", "start": 0, "end": 5, "text": "Selam", "score": 0.9}]


def test_new_readers_read_old_records_as_model_spans():
    old = {**RECORD, "entities": [{k: v for k, v in RECORD["entities"][0].items() if k not in ("source", "field")}]}
    back = fastavro.schemaless_reader(io.BytesIO(_write(OLD, old)), OLD, NEW)
    assert back["entities"][0]["source"] == "model" and back["entities"][0]["field"] == "text"


def test_the_source_field_has_a_default():
    entity = next(f for f in json.loads(schema_text("entity_result"))["fields"] if f["name"] == "entities")
    (source,) = [f for f in entity["type"]["items"]["fields"] if f["name"] == "source"]
    assert source["default"] == "model" and source["type"] == "string"
    (path,) = [f for f in entity["type"]["items"]["fields"] if f["name"] == "field"]
    assert path["default"] == "text" and path["type"] == "string"

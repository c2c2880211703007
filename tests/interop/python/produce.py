"""Produces input documents for the NER stage with confluent-kafka + fastavro (not our codec).

Run by tests/integration/kafka/test_interop_clients.py; KAFKA_CONTRACTS.md quotes it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
from confluent_kafka import Producer


# snippet:avro-document start
def document_schema(schemas_dir: Path):
    return fastavro.parse_schema(json.loads((schemas_dir / "document.avsc").read_text("utf-8")))


def encode_avro(schema, doc: dict) -> bytes:
    """Schemaless Avro: the binary encoding of one datum, no container header, no framing."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, {"id": doc["id"], "text": doc["text"],
                                             "metadata": doc.get("metadata"), "language": doc.get("language")})
    return buf.getvalue()
# snippet:avro-document end


def produce(bootstrap: str, topic: str, docs: list[dict], fmt: str, schemas_dir: Path) -> int:
    schema = document_schema(schemas_dir) if fmt == "avro" else None
    # snippet:produce start
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for doc in docs:
        value = encode_avro(schema, doc) if schema else json.dumps({"id": doc["id"], "text": doc["text"]}).encode()
        producer.produce(topic, value, key=doc["id"].encode(), headers=[("produced-by", b"confluent-kafka")])
    remaining = producer.flush(30)
    # snippet:produce end
    if remaining:
        raise RuntimeError(f"{remaining} documents were not acknowledged")
    return len(docs)

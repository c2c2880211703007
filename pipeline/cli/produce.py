"""``ner-stage produce --file docs.jsonl``: test documents onto the input topic.

Each line of the file is one document (``{"id", "text", "metadata"?, "language"?}``), encoded in
the worker's ``--format`` (json, avro, avro-registry), keyed by its ``--key-field`` (default
``id``). A line that is not a JSON object stops the command naming the line, before anything is
sent. Prints one summary line (JSON) on stdout when the broker acknowledged every record.
"""

from __future__ import annotations

import sys

import click
import orjson

from pipeline.cli.inputs import json_lines
from pipeline.cli.options import settings_from, settings_options
from pipeline.cli.topics import kafka_options
from pipeline.kafka.settings import KafkaSettings
from pipeline.kafka.topics import ProduceSettings


def _documents(path: str) -> list[dict]:
    docs = []
    for number, doc in json_lines(path):
        if not isinstance(doc, dict):
            raise click.BadParameter(f"line {number}: expected a JSON object", param_hint="--file")
        docs.append(doc)
    return docs


@click.command("produce")
@settings_options(ProduceSettings)
@settings_options(KafkaSettings, only=("format", "schema_registry_url", "compression_type"))
@kafka_options
def command(**kwargs) -> None:
    """Send the documents of --file to --topic (default: the first --input topic).

    Secrets come from the environment or --config only: NER_SASL_PASSWORD,
    NER_SSL_KEY_PASSWORD, NER_SCHEMA_REGISTRY_AUTH."""
    from confluent_kafka import Producer

    from pipeline.kafka.errors import DeliveryError
    from schemas.codec import create_codec

    settings = settings_from(ProduceSettings, kwargs)
    kafka = settings_from(KafkaSettings, kwargs)
    if not settings.file:
        raise click.UsageError("give the documents with --file docs.jsonl (or NER_FILE)")
    docs = _documents(settings.file)
    topic = settings.topic or kafka.input[0]
    codec = create_codec(kafka.format, registry_url=kafka.schema_registry_url,
                         registry_config=kafka.registry_config())
    values = [codec.encode(doc, "document", topic) for doc in docs]  # a bad document fails before any is sent
    failed: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is not None:
            failed.append(err.str())

    producer = Producer({**kafka.producer_config(), "linger.ms": 5, "on_delivery": on_delivery})
    for doc, value in zip(docs, values, strict=True):
        key = doc.get(settings.key_field) if settings.key_field else None
        producer.produce(topic, value=value, key=None if key is None else str(key).encode())
        producer.poll(0)
    if producer.flush(60) or failed:
        raise DeliveryError(f"{len(failed) or 'some'} records were not acknowledged by {kafka.bootstrap}"
                            + (f": {failed[0]}" if failed else ""))
    sys.stdout.buffer.write(orjson.dumps({"topic": topic, "records": len(docs), "format": kafka.format}) + b"\n")


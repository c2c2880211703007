"""``ner-stage topics create|describe``: the stage's topics, so nobody writes AdminClient code first.

The topic names and the connection (bootstrap, security, ``--librdkafka``) are the worker's
settings, so ``NER_*`` variables or a config file shared with ``ner-stage worker`` name the same
topics. Output is one JSON object per topic on stdout.
"""

from __future__ import annotations

import sys

import click
import orjson

from pipeline.cli.options import config_option, settings_from, settings_options
from pipeline.kafka.settings import KafkaSettings
from pipeline.kafka.topics import TopicSettings

#: the worker settings these commands read: topic names and the connection
KAFKA_FIELDS = ("bootstrap", "input", "entities_topic", "redacted_topic", "dlq_topic", "security_protocol",
                "sasl_mechanism", "sasl_username", "ssl_ca_location", "ssl_certificate_location",
                "ssl_key_location", "librdkafka")


def kafka_options(func):
    func = config_option(func)
    return settings_options(KafkaSettings, only=KAFKA_FIELDS, multi=("librdkafka",))(func)


def _print(record: dict) -> None:
    sys.stdout.buffer.write(orjson.dumps(record) + b"\n")
    sys.stdout.flush()


@click.group("topics")
def command() -> None:
    """Create or describe the stage's topics: the --input topics and the entities, redacted and
    dead-letter topics (names as for ner-stage worker). Secrets come from the environment or
    --config only: NER_SASL_PASSWORD, NER_SSL_KEY_PASSWORD."""


@command.command("create")
@settings_options(TopicSettings)
@kafka_options
def create(**kwargs) -> None:
    """Create the stage's topics that do not exist yet (existing ones are left as they are). Output
    topics get the input's partition count; the dead-letter topic a larger max.message.bytes."""
    from pipeline.kafka import topics

    kafka = settings_from(KafkaSettings, kwargs)
    for record in topics.create(kafka, settings_from(TopicSettings, kwargs)):
        _print(record)


@command.command("describe")
@kafka_options
def describe(**kwargs) -> None:
    """Partitions, replication factor and max.message.bytes of each stage topic; exit status 1
    when one is missing."""
    from pipeline.kafka import topics

    found = topics.describe(settings_from(KafkaSettings, kwargs))
    for record in found:
        _print(record)
    if not all(record["exists"] for record in found):
        sys.exit(1)

"""The stage's topics (``ner-stage topics create|describe``) and test documents (``ner-stage produce``).

The topics are the worker's: its ``--input`` topics and the entities, redacted and dead-letter
topics, named by the same settings (``NER_INPUT``, ``NER_ENTITIES_TOPIC`` ...). Output topics get
the input's partition count, because the worker writes each output to its input's partition
number; the dead-letter topic gets ``max.message.bytes`` large enough that the topic never cuts
a dead letter before the producer's own limit (``clients.PRODUCER_DEFAULT_MAX_BYTES``) does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import Field

from pipeline.config import NerSettings
from pipeline.kafka.errors import KafkaStageError
from pipeline.kafka.settings import KafkaSettings

TIMEOUT_S = 30.0


class TopicSettings(NerSettings):
    """How ``ner-stage topics create`` makes the stage's topics."""

    partitions: int = Field(6, ge=1, description="Partitions of every topic (the most workers that share the load).")
    replication_factor: int = Field(
        -1, ge=-1, description="Replicas of each partition (-1: the broker's default.replication.factor).")
    dlq_max_message_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="max.message.bytes of the dead-letter topic (a dead letter is the "
                                              "original record plus error headers).")


class ProduceSettings(NerSettings):
    """What ``ner-stage produce`` sends."""

    file: str | None = Field(None, description="JSON lines, one document {\"id\", \"text\", ...} per line.")
    topic: str | None = Field(None, description="Topic to produce to (default: the first --input topic).")
    key_field: str = Field("id", description="Document field used as the record key ('' for no key).")


@dataclass(frozen=True)
class StageTopic:
    role: str
    name: str
    config: dict


def stage_topics(kafka: KafkaSettings, topics: TopicSettings | None = None) -> list[StageTopic]:
    dlq_config = {"max.message.bytes": str(topics.dlq_max_message_bytes)} if topics else {}
    out = [StageTopic("input", name, {}) for name in kafka.input]
    out += [StageTopic(role, name, dlq_config if role == "dead-letters" else {})
            for role, name in (("entities", kafka.entities_topic), ("redacted", kafka.redacted_topic),
                               ("dead-letters", kafka.dlq_topic)) if name]
    return out


def _admin(kafka: KafkaSettings):
    from confluent_kafka.admin import AdminClient

    return AdminClient(kafka.admin_config())


def create(kafka: KafkaSettings, topics: TopicSettings) -> Iterator[dict]:
    """Create the stage's topics; existing ones are kept as they are (and said so)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    wanted = stage_topics(kafka, topics)
    admin = _admin(kafka)  # held while the futures resolve: a collected client cancels them
    futures = admin.create_topics(
        [NewTopic(t.name, num_partitions=topics.partitions, replication_factor=topics.replication_factor,
                  config=t.config) for t in wanted], operation_timeout=TIMEOUT_S, request_timeout=TIMEOUT_S)
    for topic in wanted:
        try:
            futures[topic.name].result(timeout=TIMEOUT_S)
            yield {"topic": topic.name, "role": topic.role, "created": True}
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                yield {"topic": topic.name, "role": topic.role, "created": False, "reason": "exists"}
                continue
            reason = error.str() if isinstance(error, KafkaError) else type(exc).__name__
            raise KafkaStageError(f"cannot create topic {topic.name!r} on {kafka.bootstrap}: {reason}") from exc


def describe(kafka: KafkaSettings) -> list[dict]:
    """Each stage topic: partitions, replication factor, max.message.bytes, or ``exists: false``."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ConfigResource

    admin = _admin(kafka)
    wanted = stage_topics(kafka)
    try:
        meta = admin.list_topics(timeout=TIMEOUT_S).topics
    except KafkaException as exc:
        raise KafkaStageError(f"cannot reach {kafka.bootstrap}: {exc.args[0].str() if exc.args else exc}") from exc
    present = [t for t in wanted if t.name in meta and meta[t.name].error is None]
    configs = admin.describe_configs([ConfigResource("topic", t.name) for t in present], request_timeout=TIMEOUT_S)
    limits = {}
    for resource, future in configs.items():
        entries = future.result(timeout=TIMEOUT_S)
        limits[resource.name] = int(entries["max.message.bytes"].value)
    out = []
    for topic in wanted:
        if topic not in present:
            out.append({"topic": topic.name, "role": topic.role, "exists": False})
            continue
        partitions = meta[topic.name].partitions
        out.append({"topic": topic.name, "role": topic.role, "exists": True, "partitions": len(partitions),
                    "replication_factor": min(len(p.replicas) for p in partitions.values()),
                    "max.message.bytes": limits.get(topic.name)})
    return out

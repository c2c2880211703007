"""KafkaSettings: env parsing, validation, secrets, and the librdkafka dicts made at the edge."""

from __future__ import annotations

import socket

import pytest

from pipeline.errors import ConfigError
from pipeline.kafka.settings import KafkaSettings


def test_env_sets_topics_lists_and_disables_outputs(monkeypatch):
    monkeypatch.setenv("NER_INPUT", "a, b,,c")
    monkeypatch.setenv("NER_REDACTED_TOPIC", "")
    monkeypatch.setenv("NER_DLQ_TOPIC", "none")
    monkeypatch.setenv("NER_BATCH_MAX_RECORDS", "7")
    settings = KafkaSettings.load()
    assert settings.input == ["a", "b", "c"]
    assert settings.redacted_topic is None and settings.dlq_topic is None
    assert settings.entities_topic == "entities"
    assert settings.batch_max_records == 7


def test_flags_override_env(monkeypatch):
    monkeypatch.setenv("NER_GROUP", "from-env")
    assert KafkaSettings.load(group="from-flag").group == "from-flag"


def test_secrets_stay_out_of_reprs_and_reach_librdkafka_only(monkeypatch):
    monkeypatch.setenv("NER_SASL_PASSWORD", "hunter2")
    settings = KafkaSettings.load(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    assert settings.consumer_config()["sasl.password"] == "hunter2"
    assert settings.producer_config()["sasl.password"] == "hunter2"


def test_invalid_combinations_are_config_errors():
    with pytest.raises(ConfigError, match="output topic"):
        KafkaSettings.load(input="docs", entities_topic="docs")
    with pytest.raises(ConfigError, match="schema_registry_url"):
        KafkaSettings.load(format="avro-registry")
    with pytest.raises(ConfigError):
        KafkaSettings.load(input="")


def test_client_configs():
    settings = KafkaSettings.load(group="g", delivery="exactly_once", group_instance_id="pod",
                                  librdkafka={"fetch.min.bytes": "10"})
    consumer = settings.consumer_config(worker_index=3)
    assert consumer["enable.auto.commit"] is False and consumer["enable.auto.offset.store"] is False
    assert consumer["isolation.level"] == "read_committed"
    assert consumer["group.instance.id"] == "pod-3"
    assert consumer["fetch.min.bytes"] == "10"
    producer = settings.producer_config(worker_index=3)
    assert producer["enable.idempotence"] is True and producer["acks"] == "all"
    assert producer["transactional.id"] == "ner-stage-g-pod-3"
    other_host = KafkaSettings.load(group="g", delivery="exactly_once").producer_config(worker_index=3)
    assert other_host["transactional.id"] == f"ner-stage-g-{socket.gethostname()}-3"
    assert "transactional.id" not in KafkaSettings.load().producer_config()

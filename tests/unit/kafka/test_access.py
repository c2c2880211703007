"""Secured-cluster plumbing without a broker: the ACL table, throttled client errors, the
principal and certificate checks, the secured broker's properties and 0600 secrets, the
Schema Registry client's TLS settings."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError
from pydantic import SecretStr

from pipeline.devtools.brokers.apache.security import SecurityMaterial
from pipeline.kafka.access import ClientErrors, check_certificate, principal
from pipeline.kafka.acls import worker_acls
from pipeline.kafka.errors import AuthenticationError
from pipeline.kafka.settings import KafkaSettings

TOPICS = {"input": ["docs"], "entities_topic": "ents", "redacted_topic": "reds", "dlq_topic": "dlq", "group": "g"}


def _rows(settings: KafkaSettings, optional: bool = True) -> set[tuple[str, str, str, str]]:
    return {(a.resource, a.name, a.operation, a.pattern) for a in worker_acls(settings, optional=optional)}


def test_acl_table_per_delivery_mode_is_least_privilege():
    alo = KafkaSettings(**TOPICS)
    assert _rows(alo, optional=False) == {("topic", "docs", "READ", "LITERAL"), ("group", "g", "READ", "LITERAL"),
                                          ("topic", "ents", "WRITE", "LITERAL"), ("topic", "reds", "WRITE", "LITERAL"),
                                          ("topic", "dlq", "WRITE", "LITERAL")}
    eos = KafkaSettings(**TOPICS, delivery="exactly_once")
    assert _rows(eos, optional=False) - _rows(alo, optional=False) == {
        ("transactional_id", "ner-stage-g", "WRITE", "PREFIXED")}
    # every worker's transactional.id starts with the prefix the ACL grants
    assert eos.producer_config(3)["transactional.id"].startswith("ner-stage-g-")
    assert ("topic", "dlq", "DESCRIBE_CONFIGS", "LITERAL") in _rows(alo) - _rows(alo, optional=False)
    # a disabled output needs no ACL
    assert not any(a.name == "reds" for a in worker_acls(KafkaSettings(**{**TOPICS, "redacted_topic": "none"})))


def test_acl_commands_are_kafka_acls_sh_lines():
    acls = worker_acls(KafkaSettings(**TOPICS, delivery="exactly_once", transactional_id="ner"))
    lines = [a.command("User:ner", "b:9093") for a in acls]
    assert ("kafka-acls.sh --bootstrap-server b:9093 --command-config admin.properties --add --allow-principal "
            "User:ner --operation Write --transactional-id ner --resource-pattern-type prefixed") in lines
    assert any(line.endswith("--operation DescribeConfigs --topic dlq") for line in lines)
    assert any(line.endswith("--operation Read --group g") for line in lines)


def _error(code: int, text: str = "boom") -> KafkaError:
    return KafkaError(code, text)


def test_repeated_client_errors_are_logged_once_per_interval_with_a_count(caplog, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("pipeline.kafka.access.time.monotonic", lambda: clock[0])
    lines = []
    monkeypatch.setattr("pipeline.kafka.access.log.warning", lambda event, **kw: lines.append((event, kw)))
    errors = ClientErrors(interval_s=30)
    for _ in range(1500):  # a silent bootstrap for 30 s: librdkafka retries every 20 ms
        errors(_error(KafkaError._TRANSPORT, "Connection refused"))
        clock[0] += 0.02
    clock[0] += 1
    errors(_error(KafkaError._TRANSPORT, "Connection refused"))  # past the interval: one line with the count
    transport = [kw for event, kw in lines if kw.get("error") == "_TRANSPORT"]
    assert len(transport) == 2
    assert transport[0]["repeated"] == 0 and transport[1]["repeated"] > 1400
    assert errors.refused is None and errors.fatal is None
    errors(_error(KafkaError._SSL, "SSL handshake failed: Disconnected: SSL connection closed by peer"))
    assert errors.refused is None  # a dropped connection is retried, not a verdict


@pytest.mark.parametrize(("code", "text"), [
    (KafkaError._AUTHENTICATION, "SASL authentication error: invalid credentials"),
    (KafkaError._SSL, "SSL handshake failed: certificate verify failed"),
    (KafkaError._TRANSPORT, "Receive failed: ssl/tls alert certificate unknown"),
])
def test_a_refusal_by_the_brokers_stops_with_a_named_error(code, text):
    errors = ClientErrors()
    errors(_error(code, text))
    settings = KafkaSettings(security_protocol="SASL_SSL", sasl_username="ner", sasl_password=SecretStr("s3cret-pw"))
    with pytest.raises(AuthenticationError) as raised:
        errors.raise_refused(settings)
    assert "User:ner" in str(raised.value) and text in str(raised.value)
    assert "s3cret-pw" not in str(raised.value)


def test_librdkafka_log_lines_are_throttled_too(monkeypatch):
    lines = []
    monkeypatch.setattr("pipeline.kafka.access.log.warning", lambda event, **kw: lines.append(kw))
    errors = ClientErrors(interval_s=60)
    for _ in range(50):
        errors.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", "Connect to 127.0.0.1:1 failed")
    errors.log(logging.DEBUG, "%s [%s] %s", "BROKER", "rdkafka#consumer-1", "debug chatter")  # debug: never a line
    assert len(lines) == 1 and lines[0]["facility"] == "FAIL"


def test_principal_and_an_expired_client_certificate(tmp_path):
    material = SecurityMaterial.prepare("mtls", tmp_path)
    cert, key = material.ca.issue(tmp_path / "c", "ner", expired=True)
    settings = KafkaSettings(security_protocol="SSL", ssl_certificate_location=str(cert), ssl_key_location=str(key))
    assert principal(settings) == "User:CN=ner"
    with pytest.raises(AuthenticationError, match=r"client certificate .* of User:CN=ner expired on"):
        check_certificate(settings)
    good, _ = material.ca.issue(tmp_path / "c", "ok")
    check_certificate(KafkaSettings(ssl_certificate_location=str(good)))
    assert principal(KafkaSettings(security_protocol="SASL_SSL", sasl_username="ner")) == "User:ner"


def test_secured_broker_material_keeps_secrets_in_0600_files_and_reuses_them(tmp_path):
    first = SecurityMaterial.prepare("sasl_ssl", tmp_path)
    for path in (first.ca.key_path, first.broker_key, first.admin_key, first.password_path):
        assert path.stat().st_mode & 0o777 == 0o600, path
    props = first.server_properties()
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:broker"
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert first.format_args() == ["--add-scram", f"SCRAM-SHA-512=[name=admin,password={first.admin_password}]"]
    again = SecurityMaterial.prepare("sasl_ssl", tmp_path)  # a kept data directory: same password
    assert again.admin_password == first.admin_password
    assert SecurityMaterial.prepare("mtls", tmp_path / "m").client_settings().keys() == {
        "security_protocol", "ssl_ca_location", "ssl_certificate_location", "ssl_key_location"}


def test_schema_registry_client_takes_the_tls_settings_only_for_https():
    base = {"format": "avro-registry", "ssl_ca_location": "/ca.pem", "ssl_certificate_location": "/c.pem",
            "ssl_key_location": "/c.key", "schema_registry_auth": SecretStr("u:p")}
    https = KafkaSettings(**base, schema_registry_url="https://registry:8081").registry_config()
    assert https == {"basic.auth.user.info": "u:p", "ssl.ca.location": "/ca.pem",
                     "ssl.certificate.location": "/c.pem", "ssl.key.location": "/c.key"}
    own_ca = KafkaSettings(**base, schema_registry_url="https://r", schema_registry_ca_location="/r.pem")
    assert own_ca.registry_config()["ssl.ca.location"] == "/r.pem"
    assert KafkaSettings(**base, schema_registry_url="http://r").registry_config() == {"basic.auth.user.info": "u:p"}


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_an_output_refused_for_a_missing_acl_stops_the_worker_naming_it_nothing_dead_lettered(delivery):
    """An ACL revoked while the worker runs: the batch is not committed, its records are not
    dead-lettered (the broker refused the topic, not the record), and no retry loop."""
    from engines.bundle import load_bundle
    from pipeline.kafka.errors import AuthorizationError
    from pipeline.kafka.processor import BatchProcessor
    from pipeline.kafka.worker import Worker
    from pipeline.redact import RedactSettings
    from pipeline.service import NerService
    from schemas.codec import JsonCodec
    from tests.fakes import FakeEngine
    from tests.unit.kafka.fakes import doc_msgs, fake_clients

    bundle = load_bundle()
    settings = KafkaSettings(bootstrap="fake:9092", input=["in"], entities_topic="ents", redacted_topic="red",
                             dlq_topic="dlq", batch_max_wait_ms=0, delivery=delivery, security_protocol="SASL_SSL",
                             sasl_username="ner")
    processor = BatchProcessor(NerService(bundle, FakeEngine(bundle.num_labels)), JsonCodec(), entities_topic="ents",
                               redacted_topic="red", dlq_topic="dlq", max_text_chars=1000, redact=RedactSettings())
    worker = Worker(settings, processor, clients=fake_clients())
    worker.consumer.raw.subscribe(["in"], on_assign=worker._on_assign, on_revoke=worker._on_revoke,
                                  on_lost=worker._on_lost)
    worker.consumer.raw.assign_now([("in", 0)])
    worker.producer.raw.fail_topic, worker.producer.raw.fail_code = "ents", KafkaError.TOPIC_AUTHORIZATION_FAILED
    worker.consumer.raw.feed(doc_msgs("in", ["a", "b"]))
    with pytest.raises(AuthorizationError, match="principal User:ner lacks WRITE on topic ents"):
        for _ in range(20):
            worker.step()
    assert worker.consumer.raw.commits == []
    assert not any(r["topic"] == "dlq" for r in worker.producer.raw.produced)
    assert "commit" not in worker.producer.raw.transactions

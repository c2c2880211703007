"""``ner-stage broker --kind apache --port 0 --schema-registry``: one JSON line on stdout when
ready, a broker that confluent-kafka can produce to and consume from, a Schema Registry it can
register schemas in, and a clean exit 0 on SIGTERM that stops both."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema

from pipeline.devtools.brokers.admin import FAST_GROUP_CONFIG, create_topics
from schemas.registry import registry_client
from tests.integration.kafka.kafka_io import ROOT
from tests.integration.requires import skip_or_fail

pytestmark = pytest.mark.integration


def _require_apache() -> None:
    """Java, Maven and the jars (skip locally without them, fail under CI=true)."""
    from pipeline.devtools.brokers.apache import ApacheKafkaUnavailableError, apache_available

    try:
        apache_available()
    except ApacheKafkaUnavailableError as exc:
        skip_or_fail(str(exc))


def _require_registry() -> None:
    from pipeline.devtools.schema_registry import SchemaRegistryUnavailableError, registry_available

    try:
        registry_available()
    except SchemaRegistryUnavailableError as exc:
        skip_or_fail(str(exc))


def test_broker_command_prints_the_bootstrap_line_serves_clients_and_stops_on_sigterm(tmp_path):
    _require_apache()
    _require_registry()
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "broker", "--kind", "apache", "--port", "0",
                                "--data-dir", str(tmp_path / "data"), "--schema-registry"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # blocks until the broker and the registry answer
        assert json.loads(line).keys() == {"bootstrap", "kind", "schema_registry"}, line
        ready = json.loads(line)
        assert ready["kind"] == "apache" and ready["bootstrap"].startswith("127.0.0.1:")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/apis/ccompat/v7", ready["schema_registry"])
        registry = registry_client(ready["schema_registry"], {"max.retries": 0})
        schema = Schema('{"type": "record", "name": "T", "fields": [{"name": "a", "type": "string"}]}', "AVRO")
        schema_id = registry.register_schema("broker-cmd-value", schema)
        assert json.loads(registry.get_schema(schema_id).schema_str)["name"] == "T"
        topic = f"broker-cmd-{uuid.uuid4().hex[:8]}"
        create_topics(ready["bootstrap"], [topic])
        producer = Producer({"bootstrap.servers": ready["bootstrap"]})
        for i in range(3):
            producer.produce(topic, f"v{i}".encode(), f"k{i}".encode())
        assert producer.flush(30) == 0
        consumer = Consumer({"bootstrap.servers": ready["bootstrap"], "group.id": "broker-cmd",
                             "auto.offset.reset": "earliest", **FAST_GROUP_CONFIG})
        consumer.subscribe([topic])
        got = []
        for _ in range(60):
            got += [m.value() for m in consumer.consume(10, 1.0) if m.error() is None]
            if len(got) == 3:
                break
        consumer.close()
        assert got == [b"v0", b"v1", b"v2"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, process.stderr.read()[-2000:]
        assert process.stdout.read() == ""  # exactly one line on stdout
        with pytest.raises(OSError):  # the registry stopped with the broker (connection refused)
            urllib.request.urlopen(f"{ready['schema_registry']}/subjects", timeout=5)
        assert (tmp_path / "data" / "node-1" / "meta.properties").is_file()  # --data-dir was used and kept
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_data_dir_that_cannot_be_a_directory_is_one_clear_error(tmp_path):
    _require_apache()
    taken = tmp_path / "a-file"
    taken.write_text("")
    out = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "broker", "--kind", "apache",
                          "--data-dir", str(taken)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert f"cannot use {taken} as the Apache Kafka data directory" in out.stderr
    assert "Traceback" not in out.stderr


def test_broker_security_sasl_ssl_line_carries_the_super_user_whose_secrets_stay_in_0600_files(tmp_path):
    """The line's settings work as they are; without them the broker refuses; the password is in
    no log and in no file but the 0600 ones."""
    from confluent_kafka.admin import AdminClient

    _require_apache()
    data = tmp_path / "data"
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "broker", "--security", "sasl_ssl",
                                "--data-dir", str(data)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(process.stdout.readline())
        assert ready.keys() == {"bootstrap", "kind", "security_protocol", "sasl_mechanism", "sasl_username",
                                "sasl_password", "ssl_ca_location"}, ready
        assert (ready["security_protocol"], ready["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
        client = {k.replace("_", "."): v for k, v in ready.items() if k not in ("bootstrap", "kind")}
        topic = f"secured-{uuid.uuid4().hex[:8]}"
        create_topics(ready["bootstrap"], [topic], client=client)
        assert topic in AdminClient({"bootstrap.servers": ready["bootstrap"], **client}).list_topics(timeout=10).topics
        anonymous = Producer({"bootstrap.servers": ready["bootstrap"], "log_level": 0,
                              "socket.connection.setup.timeout.ms": 2000})
        anonymous.produce(topic, b"x")
        assert anonymous.flush(5) == 1  # plaintext to a TLS listener: never delivered
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        password = ready["sasl_password"]
        assert password not in process.stderr.read()
        holders = []
        for path in data.rglob("*"):
            if path.is_file() and password.encode() in path.read_bytes():
                holders.append(path)
                assert path.stat().st_mode & 0o077 == 0, path  # owner only
        assert holders and all("log" not in p.name for p in holders), holders
        assert (data / "security" / "admin.key").stat().st_mode & 0o077 == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)

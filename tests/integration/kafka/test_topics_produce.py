"""``ner-stage topics create|describe`` and ``ner-stage produce`` against the test session's
Apache Kafka, as a newcomer runs them (subprocesses, worker-style settings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pipeline.devtools.brokers import admin
from tests.integration.kafka.kafka_io import TopicReader

pytestmark = pytest.mark.integration

NER_STAGE = str(Path(sys.executable).with_name("ner-stage"))


def ner(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([NER_STAGE, *args], capture_output=True, text=True, timeout=120, check=False, env=env)


def test_topics_create_describe_and_produce(kafka_broker, tmp_path):
    run = uuid.uuid4().hex[:8]
    names = {"input": f"docs-{run}", "entities": f"ents-{run}", "redacted": f"red-{run}", "dead-letters": f"dlq-{run}"}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NER_")}, "NER_BOOTSTRAP": kafka_broker.bootstrap,
           "NER_INPUT": names["input"], "NER_ENTITIES_TOPIC": names["entities"],
           "NER_REDACTED_TOPIC": names["redacted"], "NER_DLQ_TOPIC": names["dead-letters"]}
    try:
        missing = ner("topics", "describe", env=env)
        assert missing.returncode == 1 and all(not json.loads(x)["exists"] for x in missing.stdout.splitlines())

        created = ner("topics", "create", "--partitions", "3", "--replication-factor", "1", env=env)
        assert created.returncode == 0, created.stderr
        assert [(r["topic"], r["role"], r["created"]) for r in map(json.loads, created.stdout.splitlines())] == [
            (name, role, True) for role, name in names.items()]
        again = ner("topics", "create", env=env)  # idempotent: existing topics are kept and said so
        assert again.returncode == 0 and all(json.loads(x)["reason"] == "exists" for x in again.stdout.splitlines())

        described = {r["role"]: r for r in map(json.loads, ner("topics", "describe", env=env).stdout.splitlines())}
        assert {r["partitions"] for r in described.values()} == {3}
        assert {r["replication_factor"] for r in described.values()} == {1}
        assert described["dead-letters"]["max.message.bytes"] == 2 * 1024 * 1024

        docs = tmp_path / "docs.jsonl"
        docs.write_text("\n".join(json.dumps({"id": f"d{i}", "text": f"Mail ann{i}@example.com"}) for i in range(5)))
        sent = ner("produce", "--file", str(docs), env=env)
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout) == {"topic": names["input"], "records": 5, "format": "json"}
        reader = TopicReader(kafka_broker.bootstrap, names["input"])
        records = reader.at_least(5, timeout=30)
        reader.close()
        assert sorted((r.key, r.json()["text"]) for r in records) == [
            (f"d{i}".encode(), f"Mail ann{i}@example.com") for i in range(5)]

        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"id": "x", "text": "ok"}\n[1, 2]\n')
        refused = ner("produce", "--file", str(bad), env=env)
        assert refused.returncode == 2 and "line 2" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        admin.delete_topics(kafka_broker.bootstrap, list(names.values()), timeout_s=10)

"""Clients no one here wrote read our outputs: Apache Kafka's own Java tools, from the same
Maven Central jars as the broker.

- ``ConsoleConsumer --isolation-level read_committed`` reads the entities topic of an
  exactly-once worker: every document once, and not the record of a transaction that was
  aborted on that topic (which the same tool, reading uncommitted, does show: the check can fail);
- ``ConsumerGroupCommand --describe`` shows zero lag for the worker's group once it drained.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from confluent_kafka import Producer

from pipeline.devtools.bench.common import sample_texts
from tests.integration.conftest import require_apache
from tests.integration.kafka.kafka_io import TopicReader, doc, produce

pytestmark = pytest.mark.integration
ROLES = ("input", "entities", "redacted", "dlq")
N = 40
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


def _tool(cluster, main_class: str, *args: str, timeout: float = 120.0) -> str:
    done = subprocess.run(cluster.java_command(main_class, *args), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{main_class} exited {done.returncode}:\n{done.stderr[-2000:]}"
    return done.stdout


def _console_consumer(cluster, topic: str, isolation: str, max_messages: int, *where: str) -> list[str]:
    """Values printed by ConsoleConsumer; it exits after ``max_messages`` or 8 s without a record."""
    out = _tool(cluster, CONSOLE_CONSUMER, "--bootstrap-server", cluster.bootstrap, "--topic", topic,
                *(where or ("--from-beginning",)), "--isolation-level", isolation,
                "--max-messages", str(max_messages), "--timeout-ms", "8000")
    return [line for line in out.splitlines() if line.strip()]


def _abort_one_transaction(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"aborter-{topic}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, json.dumps({"id": "aborted"}).encode(), partition=0)
    producer.flush(30)
    producer.abort_transaction(30)


def test_apache_console_consumer_and_group_tool_read_an_exactly_once_worker(eos_broker, topics, in_process_worker):
    cluster = require_apache(eos_broker)
    names = topics(*ROLES, broker=eos_broker, partitions=2)
    _abort_one_transaction(eos_broker.bootstrap, names.entities)
    produce(eos_broker.bootstrap, names.input,
            [(f"k{i}".encode(), doc(f"d{i}", t), None) for i, t in enumerate(sample_texts(N, 3, 8, seed=9))])
    worker = in_process_worker(eos_broker.bootstrap, names, delivery="exactly_once", transactional_id="tools")
    reader = TopicReader(eos_broker.bootstrap, names.entities, read_committed=True)
    reader.at_least(N, timeout=90)
    reader.close()

    committed = _console_consumer(cluster, names.entities, "read_committed", N + 1)  # N + 1: waits out the 8 s
    ids = [json.loads(line)["id"] for line in committed]
    assert sorted(ids) == sorted(f"d{i}" for i in range(N))
    (first,) = _console_consumer(cluster, names.entities, "read_uncommitted", 1, "--partition", "0", "--offset", "0")
    assert json.loads(first)["id"] == "aborted"  # it is there: read_committed did skip it

    described = _tool(cluster, GROUP_COMMAND, "--bootstrap-server", cluster.bootstrap, "--describe",
                      "--group", worker.settings.group)
    rows = [line.split() for line in described.splitlines() if line.startswith(worker.settings.group)]
    header = next(line.split() for line in described.splitlines() if line.startswith("GROUP"))
    lag = {int(row[header.index("PARTITION")]): row[header.index("LAG")] for row in rows
           if row[header.index("TOPIC")] == names.input}
    assert lag == {0: "0", 1: "0"}, described

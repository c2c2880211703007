"""A batch slower than ``max.poll.interval.ms`` on Apache Kafka: the worker keeps its place in
the group (it polls while the batch computes, partitions paused), so every document comes out,
the offsets are committed and nothing is re-read in a loop.

Before ``inflight.py``, librdkafka expelled the worker mid-batch: its commit was refused and it
re-read the same batch for as long as it ran (issue 21: 0 commits, 90 duplicates in 2.5 min).
The interval here is the shortest the broker allows (1 s, the session timeout), and each batch
of real-model inference takes several times that.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition

from pipeline.devtools.bench.common import sample_texts
from tests.integration.conftest import require_apache
from tests.integration.kafka.kafka_io import TopicReader, doc, produce, worker_args

pytestmark = pytest.mark.integration
ROLES = ("input", "entities", "redacted", "dlq")
N, BATCH = 12, 6


def test_a_batch_slower_than_the_poll_interval_commits_and_is_not_replayed(kafka_broker, topics, worker_process):
    require_apache(kafka_broker)
    names = topics(*ROLES, partitions=1)
    bootstrap, group = kafka_broker.bootstrap, f"slow-{uuid.uuid4().hex[:8]}"
    texts = [" ".join(sample_texts(40, 8, 12, seed=100 + i)) for i in range(N)]  # ~2,500 characters each
    worker = worker_process(worker_args(
        bootstrap, names, group, "--session-timeout-ms", "1000", "--librdkafka", "max.poll.interval.ms=1000",
        "--batch-max-records", str(BATCH), "--batch-max-tokens", "100000", "--batch-max-wait-ms", "2000",
        "--metrics-port", "0"))
    worker.wait_assigned()
    produce(bootstrap, names.input, [(f"k{i}".encode(), doc(f"d{i}", texts[i]), None) for i in range(N)])
    entities = TopicReader(bootstrap, names.entities)
    try:
        def all_out(recs) -> bool:
            assert worker.process.poll() is None, f"the worker exited:\n{worker.log_text()[-3000:]}"
            return {r.json()["id"] for r in recs} >= {f"d{i}" for i in range(N)}

        recs = entities.until(all_out, timeout=300, what=f"all {N} documents")
        recs = entities.settle(2.0)
    finally:
        entities.close()
    log = worker.log_text()
    assert "kafka.batch_slow" in log, "no batch outlasted the keep-alive: the test did not test anything"
    assert "MAX_POLL_EXCEEDED" not in log and "kafka.partitions_lost" not in log, log[-3000:]
    copies = Counter(r.json()["id"] for r in recs)
    assert sum(copies.values()) - N <= BATCH, f"replayed: {copies}"  # at most one batch of duplicates
    deadline = time.monotonic() + 30  # the commit follows the outputs' acknowledgement
    while (committed := _committed(bootstrap, group, names.input)) != N and time.monotonic() < deadline:
        time.sleep(0.5)
    assert committed == N, f"committed offset {committed}, expected {N}"


def _committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        (tp,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return tp.offset
    finally:
        consumer.close()

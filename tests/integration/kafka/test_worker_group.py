"""Scaling out: workers in one consumer group share partitions without losing records, and
SIGTERM drains and exits 0 (one process per worker, and ``--workers N`` under one supervisor)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest

from pipeline.devtools.bench.common import sample_texts
from tests.integration.kafka.kafka_io import TopicReader, doc, produce, worker_args

pytestmark = pytest.mark.integration
ROLES = ("input", "entities", "redacted", "dlq")


def test_second_worker_joining_mid_stream_loses_nothing(kafka_broker, topics, worker_process):
    names = topics(*ROLES, partitions=4)
    bootstrap, n = kafka_broker.bootstrap, 600
    texts = sample_texts(n, 3, 8, seed=33)
    group = f"join-{uuid.uuid4().hex[:8]}"
    args = worker_args(bootstrap, names, group, "--batch-max-records", "16")
    entities = TopicReader(bootstrap, names.entities)

    first = worker_process(args)
    first.wait_assigned()

    def feed() -> None:  # records keep arriving while the group rebalances
        for start in range(0, n, 50):
            produce(bootstrap, names.input, [(None, doc(f"d{i}", texts[i]), None) for i in range(start, start + 50)])
            time.sleep(0.25)

    feeder = threading.Thread(target=feed)
    feeder.start()
    entities.at_least(100, timeout=90)
    second = worker_process(args)
    second.wait_assigned()
    feeder.join()
    entities.until(lambda recs: {r.json()["id"] for r in recs} >= {f"d{i}" for i in range(n)}, timeout=120,
                   what="every document")
    assert first.terminate() == 0, first.log_text()[-2000:]
    assert second.terminate() == 0, second.log_text()[-2000:]
    counts = Counter(r.json()["id"] for r in entities.settle(1.0))
    assert set(counts) == {f"d{i}" for i in range(n)}
    # revoked partitions were finished and committed before release: a clean rebalance duplicates nothing
    assert max(counts.values()) == 1
    # both workers did part of the work
    processed = [int(r.json()["source"]["partition"]) for r in entities.records]
    assert len(set(processed)) == 4
    assert "kafka.revoked" in first.log_text()
    entities.close()


def test_workers_flag_runs_n_processes_in_the_group_and_sigterm_exits_0(kafka_broker, topics, worker_process):
    names = topics(*ROLES, partitions=2)
    bootstrap, n = kafka_broker.bootstrap, 200
    produce(bootstrap, names.input, [(f"k{i}".encode(), doc(f"d{i}", t), None)
                                     for i, t in enumerate(sample_texts(n, 3, 8, seed=44))])
    supervisor = worker_process(worker_args(bootstrap, names, f"multi-{uuid.uuid4().hex[:8]}", "--workers", "2"))
    entities = TopicReader(bootstrap, names.entities)
    entities.until(lambda recs: {r.json()["id"] for r in recs} >= {f"d{i}" for i in range(n)}, timeout=120,
                   what="every document")
    assert supervisor.terminate() == 0, supervisor.log_text()[-2000:]
    log = supervisor.log_text()
    assert log.count("kafka.worker_stopped") == 2
    assert "worker=0" in log and "worker=1" in log
    entities.close()

"""A rebalance while the worker is paused must not leave its partitions paused forever.

Found on Apache Kafka in the crash-loop test: a worker with a full queue pauses its
partitions; a rebalance revokes them, ``_on_revoke`` finishes the queued work (the queue is now
empty), and the reassigned partitions are paused again on assignment. Nothing was fetched and
no batch ran, so the resume (which ran only after fetching or processing) never came. And
librdkafka keeps a partition's pause flag across a revoke and a later re-assignment (the fake
consumer does too), so a partition paused before a rebalance must be resumed when assigned again.
"""

from __future__ import annotations

import inspect

from engines.bundle import load_bundle
from pipeline.kafka import worker as worker_module
from pipeline.kafka.processor import BatchProcessor
from pipeline.kafka.settings import KafkaSettings
from pipeline.kafka.worker import Worker
from pipeline.redact import RedactSettings
from pipeline.service import NerService
from schemas.codec import JsonCodec
from tests.fakes import FakeEngine
from tests.unit.kafka.fakes import FakeConsumer, FakeProducer, doc_msgs


def _paused_worker(monkeypatch) -> tuple[Worker, FakeConsumer]:
    """A worker whose full queue paused partition in[0], and its fake consumer."""
    bundle = load_bundle()
    service = NerService(bundle, FakeEngine(bundle.num_labels))
    settings = KafkaSettings(bootstrap="fake:9092", input=["in"], entities_topic="ents", redacted_topic="red",
                             dlq_topic="dlq", batch_max_wait_ms=0, queue_max_records=8, batch_max_records=2)
    processor = BatchProcessor(service, JsonCodec(), entities_topic="ents", redacted_topic="red", dlq_topic="dlq",
                               max_text_chars=1000, redact=RedactSettings())
    if "clients" in inspect.signature(Worker).parameters:  # the worker on typed client wrappers
        from tests.unit.kafka.fakes import fake_clients

        worker = Worker(settings, processor, clients=fake_clients())
        consumer = worker.consumer.raw
    else:
        monkeypatch.setattr(worker_module, "Consumer", FakeConsumer)
        monkeypatch.setattr(worker_module, "Producer", FakeProducer)
        worker = Worker(settings, processor)
        consumer = worker.consumer
    consumer.subscribe(["in"], on_assign=worker._on_assign, on_revoke=worker._on_revoke, on_lost=worker._on_lost)
    consumer.assign_now([("in", 0)])
    consumer.feed(doc_msgs("in", ["x"] * 30))
    worker.step()  # full queue: paused
    assert worker._paused and consumer.paused == {("in", 0)}
    return worker, consumer


def test_partitions_reassigned_while_paused_resume_once_the_revoke_emptied_the_queue(monkeypatch):
    worker, consumer = _paused_worker(monkeypatch)
    consumer.revoke_now([("in", 0)])  # finishes and commits the queued work: the queue is empty
    assert len(worker.batcher) == 0
    consumer.assign_now([("in", 0)])  # assigned again while still marked paused
    for _ in range(3):
        worker.step()
    assert not worker._paused and consumer.paused == set()
    for _ in range(50):
        worker.step()
    assert consumer.queue == []  # every record was fetched again
    assert consumer.commits[-1] == [("in", 0, 30)]


def test_a_partition_paused_before_a_rebalance_is_resumed_when_assigned_again(monkeypatch):
    worker, consumer = _paused_worker(monkeypatch)
    consumer.revoke_now([("in", 0)])  # queue emptied by the revoke
    worker.step()  # nothing assigned: the worker is no longer paused, but in[0] keeps its pause flag
    assert not worker._paused and consumer.paused == {("in", 0)}
    consumer.assign_now([("in", 0)])
    assert consumer.paused == set()
    for _ in range(50):
        worker.step()
    assert consumer.queue == [] and consumer.commits[-1] == [("in", 0, 30)]

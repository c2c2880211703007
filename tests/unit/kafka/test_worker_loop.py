"""Worker loop rules without a broker: commit after acks, per-batch offsets, backpressure,
rebalance (finish and commit revoked work), exactly-once abort and rewind, drain on stop."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, TopicPartition

from engines.bundle import load_bundle
from pipeline.kafka.errors import CommitError, DeadLetterBreakerError, DeliveryError, ProcessingError
from pipeline.kafka.processor import BatchProcessor
from pipeline.kafka.settings import KafkaSettings
from pipeline.kafka.worker import Worker
from pipeline.redact import RedactSettings
from pipeline.service import NerService
from schemas.codec import JsonCodec
from tests.fakes import FakeEngine
from tests.unit.kafka.fakes import FakeMsg, doc_msgs, fake_clients


@pytest.fixture(scope="module")
def service():
    bundle = load_bundle()
    return NerService(bundle, FakeEngine(bundle.num_labels))


def make(service, **overrides) -> Worker:
    settings = KafkaSettings(**{"bootstrap": "fake:9092", "input": ["in"], "entities_topic": "ents",
                                "redacted_topic": "red", "dlq_topic": "dlq", "batch_max_wait_ms": 0, **overrides})
    processor = BatchProcessor(service, JsonCodec(), entities_topic="ents", redacted_topic="red", dlq_topic="dlq",
                               max_text_chars=1000, redact=RedactSettings())
    worker = Worker(settings, processor, clients=fake_clients())
    worker.consumer.raw.subscribe(["in"], on_assign=worker._on_assign, on_revoke=worker._on_revoke,
                              on_lost=worker._on_lost)
    return worker


def run_until_idle(worker: Worker, steps: int = 50) -> None:
    for _ in range(steps):
        worker.step()
        if not worker.consumer.raw.queue and not len(worker.batcher):
            return


def test_offsets_are_committed_per_batch_after_outputs_are_flushed(service):
    worker = make(service, batch_max_records=4)
    worker.consumer.raw.assign_now([("in", 0), ("in", 1)])
    worker.consumer.raw.feed(doc_msgs("in", ["a"] * 6, partition=0) + doc_msgs("in", ["b"] * 2, partition=1))
    run_until_idle(worker)
    assert worker.consumer.raw.commits == [[("in", 0, 4)], [("in", 0, 6), ("in", 1, 2)]]
    assert len(worker.producer.raw.produced) == 16  # entities + redacted for 8 documents
    assert worker.producer.raw.events == ["flush", "flush"]
    assert worker.producer.raw.conf["enable.idempotence"] is True


def test_a_failed_delivery_commits_nothing(service):
    worker = make(service)
    worker.consumer.raw.assign_now([("in", 0)])
    worker.producer.raw.fail_topic = "red"
    worker.consumer.raw.feed(doc_msgs("in", ["a", "b"]))
    with pytest.raises(DeliveryError):
        run_until_idle(worker)
    assert worker.consumer.raw.commits == []


def test_full_queue_pauses_partitions_and_resumes_when_half_empty(service):
    worker = make(service, queue_max_records=8, batch_max_records=2)
    worker.consumer.raw.assign_now([("in", 0)])
    worker.consumer.raw.feed(doc_msgs("in", ["x"] * 30))
    worker.step()  # takes 8 (the queue's room): full -> pause; one batch of 2 runs: 6 queued
    assert len(worker.batcher) == 6 and worker._paused and worker.consumer.raw.paused == {("in", 0)}
    worker.step()  # paused: nothing fetched; one batch runs: 4 queued = half -> resume
    assert len(worker.batcher) == 4 and not worker._paused
    run_until_idle(worker)
    assert worker.consumer.raw.pause_calls >= 1 and worker.consumer.raw.resume_calls >= 1
    assert worker.consumer.raw.commits[-1] == [("in", 0, 30)]
    assert not worker.consumer.raw.paused


def test_revoked_partitions_are_finished_and_committed_before_release(service):
    worker = make(service, batch_max_records=64, batch_max_wait_ms=60_000)
    worker.consumer.raw.assign_now([("in", 0), ("in", 1)])
    worker.consumer.raw.feed(doc_msgs("in", ["a"] * 3, partition=0) + doc_msgs("in", ["b"] * 2, partition=1))
    worker.step()
    assert len(worker.batcher) == 5 and worker.consumer.raw.commits == []  # waiting for a fuller batch
    worker.consumer.raw.revoke_now([("in", 0)])
    assert worker.consumer.raw.commits == [[("in", 0, 3)]]
    assert len(worker.batcher) == 2  # partition 1 stays queued
    assert ("in", 0) not in worker._assigned


def test_lost_partitions_are_dropped_without_commit(service):
    worker = make(service, batch_max_wait_ms=60_000)
    worker.consumer.raw.assign_now([("in", 0)])
    worker.consumer.raw.feed(doc_msgs("in", ["a"] * 3))
    worker.step()
    worker.consumer.raw.callbacks["lost"](worker.consumer.raw, [TopicPartition("in", 0)])
    assert len(worker.batcher) == 0 and worker.consumer.raw.commits == []


def test_exactly_once_commits_offsets_in_the_transaction_and_rewinds_after_abort(service):
    worker = make(service, delivery="exactly_once", batch_max_records=2)
    producer, consumer = worker.producer.raw, worker.consumer.raw
    assert producer.conf["transactional.id"].startswith("ner-stage-ner-stage-")
    consumer.assign_now([("in", 0)])
    consumer.feed(doc_msgs("in", ["a"] * 4))
    worker.step()  # batch 1 committed in a transaction
    assert producer.transactions == ["init", "begin", "offsets:[(0, 2)]", "commit"]
    producer.fail_commit_transactions = 1
    worker.step()  # batch 2's commit fails: abort, forget the queue, seek back to offset 2
    assert producer.transactions[-1] == "abort"
    assert consumer.seeks == [("in", 0, 2)]
    assert len(worker.batcher) == 0
    assert consumer.commits == []  # never commits outside a transaction


def test_stop_drains_the_queue_commits_and_closes(service):
    worker = make(service, batch_max_wait_ms=60_000)
    consumer = worker.consumer.raw
    consumer.on_consume = lambda c: (c.assign_now([("in", 0)]), c.feed(doc_msgs("in", ["a"] * 3)),
                                     setattr(c, "on_consume", None), worker.stop.set())
    worker.run()
    assert consumer.commits == [[("in", 0, 3)]]
    assert consumer.closed
    assert worker.producer.raw.events[-2:] == ["flush", "close"]  # outputs acknowledged before closing


def test_an_output_too_large_for_the_broker_dead_letters_its_record_and_the_batch_goes_on(service):
    worker = make(service)
    worker.consumer.raw.assign_now([("in", 0)])
    worker.producer.raw.max_bytes = 2000  # the long document fits, its entity result (one per line here) does not
    worker.consumer.raw.feed(doc_msgs("in", ["short", "word\n" * 100, "tiny"]))
    run_until_idle(worker)
    produced = [(r["topic"], r["key"]) for r in worker.producer.raw.produced]
    assert produced == [("ents", b"k0"), ("red", b"k0"), ("dlq", b"k1"), ("ents", b"k2"), ("red", b"k2")]
    letter = worker.producer.raw.produced[2]
    assert dict(letter["headers"])["ner.error.class"] == b"OutputTooLargeError"
    assert worker.consumer.raw.commits == [[("in", 0, 3)]]


def test_after_a_failed_batch_closing_commits_nothing_later(service):
    worker = make(service, batch_max_records=2)
    consumer, producer = worker.consumer.raw, worker.producer.raw
    producer.fail_flushes = 1  # the first batch fails; later ones would succeed
    consumer.on_consume = lambda c: (c.assign_now([("in", 0)]), c.feed(doc_msgs("in", ["a"] * 6)),
                                     setattr(c, "on_consume", None))
    real_close = consumer.close

    def close():  # librdkafka revokes the assignment on close
        consumer.revoke_now([("in", 0)])
        real_close()

    consumer.close = close
    with pytest.raises(DeliveryError):
        worker.run()
    assert consumer.commits == [] and consumer.closed


def _refused_by_the_topic(worker: Worker) -> int:
    """Make the broker refuse (at delivery, like a topic's max.message.bytes) outputs of the long
    document only; returns the limit."""
    worker.producer.raw.broker_max_bytes = 2000
    return 2000


def test_an_output_the_broker_refuses_dead_letters_its_input_and_the_batch_commits(service):
    worker = make(service)
    worker.consumer.raw.assign_now([("in", 0)])
    _refused_by_the_topic(worker)
    msgs = doc_msgs("in", ["short", "word\n" * 100, "tiny"])
    worker.consumer.raw.feed(msgs)
    run_until_idle(worker)
    letters = [r for r in worker.producer.raw.produced if r["topic"] == "dlq"]
    assert [r["key"] for r in letters] == [b"k1"]
    assert letters[0]["value"] == msgs[1].value()  # the original bytes
    headers = dict(letters[0]["headers"])
    assert headers["ner.error.class"] == b"OutputRefusedError"
    assert b"MSG_SIZE_TOO_LARGE" in headers["ner.error.message"]
    assert worker.consumer.raw.commits == [[("in", 0, 3)]]  # the stage went on: nothing re-read, nothing lost
    worker.consumer.raw.feed(doc_msgs("in", ["next"], start=3))
    run_until_idle(worker)
    assert worker.consumer.raw.commits[-1] == [("in", 0, 4)]


def test_a_refused_dead_letter_still_stops_the_batch_uncommitted(service):
    worker = make(service)
    worker.consumer.raw.assign_now([("in", 0)])
    worker.producer.raw.broker_max_bytes = 100  # the dead letter of the long document is refused too
    worker.consumer.raw.feed(doc_msgs("in", ["word\n" * 100]))
    with pytest.raises(DeliveryError):
        run_until_idle(worker)
    assert worker.consumer.raw.commits == []


def test_exactly_once_dead_letters_a_refused_record_when_it_is_re_read(service):
    worker = make(service, delivery="exactly_once")
    producer, consumer = worker.producer.raw, worker.consumer.raw
    consumer.assign_now([("in", 0)])
    _refused_by_the_topic(worker)
    texts = ["short", "word\n" * 100, "tiny"]
    consumer.feed(doc_msgs("in", texts))
    worker.step()  # the refused output fails the transaction: abort and seek back
    assert producer.transactions[-1] == "abort" and consumer.seeks == [("in", 0, 0)]
    consumer.feed(doc_msgs("in", texts))  # what the seek re-reads
    worker.step()  # the suspect's outputs go alone and are refused alone: abort again
    assert producer.transactions[-1] == "abort" and consumer.seeks[-1] == ("in", 0, 0)
    consumer.feed(doc_msgs("in", texts))
    worker.step()
    assert producer.transactions[-2:] == ["offsets:[(0, 3)]", "commit"]
    committed = producer.produced[-5:]  # the committed transaction: 2 good records x 2 outputs + 1 dead letter
    assert [(r["topic"], r["key"]) for r in committed] == [("ents", b"k0"), ("red", b"k0"), ("dlq", b"k1"),
                                                          ("ents", b"k2"), ("red", b"k2")]


def test_records_refused_only_for_sharing_a_batch_with_a_large_one_are_not_dead_lettered(service):
    """Brokers judge whole record batches: innocent neighbours are re-sent alone and pass."""
    worker = make(service)
    worker.consumer.raw.assign_now([("in", 0)])
    producer = worker.producer.raw
    producer.broker_max_bytes = 2000
    real_flush = producer.flush

    def flush_judging_batches(timeout=None):  # one oversized record fails its whole batch
        if any(len(r["value"] or b"") > 2000 for r in producer.unacked):
            saved, producer.broker_max_bytes = producer.broker_max_bytes, 0
            try:
                return real_flush(timeout)
            finally:
                producer.broker_max_bytes = saved
        return real_flush(timeout)

    producer.flush = flush_judging_batches
    worker.consumer.raw.feed(doc_msgs("in", ["short", "word\n" * 100, "tiny"]))
    run_until_idle(worker)
    letters = [r["key"] for r in producer.produced if r["topic"] == "dlq"]
    assert letters == [b"k1"]  # only the record whose output is too large
    resent = [(r["topic"], r["key"]) for r in producer.produced[6:] if r["topic"] != "dlq"]
    assert ("ents", b"k0") in resent and ("ents", b"k2") in resent  # innocents re-sent alone, delivered
    assert worker.consumer.raw.commits == [[("in", 0, 3)]]


def _poison(n: int, start: int) -> list[FakeMsg]:
    return [FakeMsg("in", 0, start + i, b"not json", key=f"p{start + i}".encode()) for i in range(n)]


def test_the_breaker_commits_the_records_before_the_trip_then_stops(service):
    worker = make(service, batch_max_records=10, dead_letter_window=10, dead_letter_max_share=0.5)
    consumer, producer = worker.consumer.raw, worker.producer.raw
    consumer.assign_now([("in", 0)])
    consumer.feed(doc_msgs("in", ["a", "b"]) + _poison(8, 2))  # the 6th dead letter (offset 7) trips it
    with pytest.raises(DeadLetterBreakerError):
        run_until_idle(worker)
    assert consumer.commits == [[("in", 0, 7)]]  # offsets 0..6: the records before the trip
    assert [r["key"] for r in producer.produced if r["topic"] == "dlq"] == [f"p{i}".encode() for i in range(2, 7)]
    assert worker.metrics.breaker_open._value.get() == 1


def test_the_breaker_stays_closed_under_its_share(service):
    worker = make(service, batch_max_records=10, dead_letter_window=10, dead_letter_max_share=0.5)
    worker.consumer.raw.assign_now([("in", 0)])
    worker.consumer.raw.feed(doc_msgs("in", ["a"] * 5) + _poison(5, 5) + doc_msgs("in", ["c"] * 10, start=10))
    run_until_idle(worker)
    assert worker.consumer.raw.commits[-1] == [("in", 0, 20)]


def test_a_stage_error_commits_nothing_and_dead_letters_nothing(service):
    worker = make(service)
    worker.processor.redactor = type("Broken", (), {"redact_spans": lambda *a, **k: 1 / 0})()
    worker.consumer.raw.assign_now([("in", 0)])
    worker.consumer.raw.feed(doc_msgs("in", ["a", "b"]))
    with pytest.raises(ProcessingError):
        run_until_idle(worker)
    assert worker.consumer.raw.commits == [] and worker.producer.raw.produced == []


def test_a_commit_refused_because_the_partition_moved_is_left_to_its_new_owner(service):
    worker = make(service, batch_max_records=2)
    consumer = worker.consumer.raw
    consumer.assign_now([("in", 0), ("in", 1)])
    consumer.refuse = {("in", 1): KafkaError.ILLEGAL_GENERATION}
    consumer.feed(doc_msgs("in", ["a"], partition=0) + doc_msgs("in", ["b"], partition=1))
    run_until_idle(worker)  # goes on: the new owner of in[1] re-reads it
    assert worker.checkpoint.uncommitted == {("in", 0): 1, ("in", 1): 0}
    consumer.refuse = {("in", 0): KafkaError.TOPIC_AUTHORIZATION_FAILED}
    consumer.feed(doc_msgs("in", ["c"], partition=0, start=1))
    with pytest.raises(CommitError):
        run_until_idle(worker)

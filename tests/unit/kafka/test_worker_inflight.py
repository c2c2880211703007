"""A batch slower than the keep-alive: the worker keeps polling (partitions paused) while it
computes, holds what it consumed for after it, and after a rebalance during the compute it
produces and commits only the records of partitions it still owns (``inflight.py``)."""

from __future__ import annotations

import itertools
import threading
import time

from engines.bundle import load_bundle
from pipeline.kafka.inflight import keepalive_s
from pipeline.kafka.processor import BatchProcessor
from pipeline.kafka.settings import KafkaSettings
from pipeline.kafka.worker import Worker
from pipeline.redact import RedactSettings
from pipeline.service import NerService
from schemas.codec import JsonCodec
from tests.fakes import FakeEngine
from tests.unit.kafka.fakes import doc_msgs, fake_clients


class SlowProcessor(BatchProcessor):
    """The real processor, each batch held for ``delay`` seconds (an engine slower than the interval)."""

    delay = 0.6

    def run(self, batch):
        time.sleep(self.delay)
        return super().run(batch)


def _worker() -> tuple[Worker, object, object]:
    bundle = load_bundle()
    settings = KafkaSettings(bootstrap="fake:9092", input=["in"], entities_topic="ents", redacted_topic="red",
                             dlq_topic="dlq", batch_max_wait_ms=0, batch_max_records=4,
                             librdkafka={"max.poll.interval.ms": "400"})
    processor = SlowProcessor(NerService(bundle, FakeEngine(bundle.num_labels)), JsonCodec(), entities_topic="ents",
                              redacted_topic="red", dlq_topic="dlq", max_text_chars=1000, redact=RedactSettings())
    worker = Worker(settings, processor, clients=fake_clients())
    consumer, producer = worker.consumer.raw, worker.producer.raw
    consumer.subscribe(["in"], on_assign=worker._on_assign, on_revoke=worker._on_revoke, on_lost=worker._on_lost)
    consumer.assign_now([("in", 0), ("in", 1)])
    return worker, consumer, producer


def test_keepalive_is_a_quarter_of_the_poll_interval_at_most_a_second():
    assert keepalive_s({"max.poll.interval.ms": "400"}) == 0.1
    assert keepalive_s({}) == 1.0


def test_a_slow_batch_is_polled_through_with_partitions_paused_and_late_records_held():
    worker, consumer, producer = _worker()
    consumer.feed(doc_msgs("in", ["a", "b"], partition=0))
    polls: list[tuple[float, set]] = []
    consumer.on_consume = lambda c: polls.append((time.monotonic(), set(c.paused)))
    worker.step()  # takes the two records, runs them: ~0.6 s of compute
    during = [paused for _, paused in polls[1:]]
    assert len(during) >= 3, "the worker did not poll while the batch computed"
    assert all(paused == {("in", 0), ("in", 1)} for paused in during)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(polls)]
    assert max(gaps) < 0.4  # never longer than max.poll.interval.ms without a poll
    assert consumer.paused == set()  # resumed after the batch
    assert consumer.commits[-1] == [("in", 0, 2)]
    assert len(producer.produced) == 4  # entities + redacted per record, once each

    # a record that arrives while a batch computes is held, then processed after it
    consumer.feed(doc_msgs("in", ["c"], partition=0, start=2))
    consumer.on_consume = None
    late = doc_msgs("in", ["d"], partition=1)
    feed_once = threading.Event()

    def feed_during(c):
        if c.paused and not feed_once.is_set():  # a record fetched before the pause still comes back
            feed_once.set()
            c.feed(late)
            c.paused, c.restore = set(), c.paused
        elif getattr(c, "restore", None):
            c.paused, c.restore = c.restore, None

    consumer.on_consume = feed_during
    worker.step()
    assert feed_once.is_set() and [(m.partition(), m.offset()) for m in worker.inflight.held] == [(1, 0)]
    assert consumer.commits[-1] == [("in", 0, 3)]
    consumer.on_consume = None
    worker.step()  # the held record joins the queue first, then runs
    assert worker.inflight.held == [] and consumer.commits[-1] == [("in", 1, 1)]


def test_a_rebalance_during_the_compute_commits_only_what_the_worker_still_owns():
    worker, consumer, producer = _worker()
    consumer.feed(doc_msgs("in", ["a", "b"], partition=0) + doc_msgs("in", ["c", "d"], partition=1))
    revoked = threading.Event()

    def revoke_once(c):
        if c.paused and not revoked.is_set():  # a poll during the compute
            revoked.set()
            c.revoke_now([("in", 1)])

    consumer.on_consume = revoke_once
    worker.step()
    assert revoked.is_set()
    assert consumer.commits == [[("in", 0, 2)]]  # partition 1 not committed ...
    sources = sorted({(r["topic"], r["key"]) for r in producer.produced})
    assert sources == [("ents", b"k0"), ("ents", b"k1"), ("red", b"k0"), ("red", b"k1")]  # ... nor produced
    assert worker._assigned == {("in", 0)} and ("in", 1) not in worker.checkpoint.uncommitted

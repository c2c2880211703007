"""Delivery guarantees: when a batch's offsets are committed, relative to its outputs.

At-least-once (default), per micro-batch:

1. produce every output record of the batch (entities, redacted, dead letters);
2. ``producer.flush()`` until every one of them is acknowledged (``acks=all``, idempotent
   producer, so retries neither duplicate nor reorder within a partition);
3. if any delivery failed: raise :class:`DeliveryError`, commit nothing (the worker stops
   and the batch is re-read by whoever owns the partitions next);
4. otherwise commit the batch's offsets (``last offset + 1`` per partition), synchronously.

A crash between 2 and 4 re-delivers only that batch: duplicates, never loss.

Exactly-once (``delivery = exactly_once``), per micro-batch, with a transactional producer:

1. ``begin_transaction()``;
2. produce every output record of the batch;
3. ``send_offsets_to_transaction(offsets, consumer_group_metadata)``: the offsets commit
   atomically with the outputs;
4. ``commit_transaction()``. On an abortable error: ``abort_transaction()``, then the worker
   rewinds its consumer to the first offset of every uncommitted record and processes them
   again (:class:`TransactionError`). Fatal errors (fenced by a newer instance) propagate.

Consumers of the outputs must read with ``isolation.level=read_committed``. The consumer of
the input also reads committed data only, so aborted upstream transactions never get in.
"""

from __future__ import annotations

from typing import Protocol

import structlog
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from pipeline.kafka.errors import BrokerError, DeliveryError, TransactionError

log = structlog.get_logger(__name__)
FLUSH_TIMEOUT_S = 60.0


class Delivery(Protocol):
    def begin(self) -> None: ...

    def complete(self, offsets: list[TopicPartition]) -> None: ...

    def abort(self) -> None: ...


class DeliveryTracker:
    """Counts acknowledgements and remembers failures (the producer's ``on_delivery``)."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.acked = 0

    def __call__(self, err: KafkaError | None, msg) -> None:
        if err is None:
            self.acked += 1
        else:
            self.failures.append(f"{msg.topic()}: {err.str()}")

    def reset(self) -> None:
        self.failures.clear()
        self.acked = 0


class AtLeastOnce:
    """Flush (all outputs acknowledged), then commit the batch's offsets."""

    def __init__(self, producer, consumer, tracker: DeliveryTracker) -> None:
        self.producer = producer
        self.consumer = consumer
        self.tracker = tracker

    def begin(self) -> None:
        self.tracker.reset()

    def complete(self, offsets: list[TopicPartition]) -> None:
        remaining = self.producer.flush(FLUSH_TIMEOUT_S)
        if remaining:
            raise DeliveryError(f"{remaining} output records not acknowledged after {FLUSH_TIMEOUT_S:.0f}s")
        if self.tracker.failures:
            raise DeliveryError(f"{len(self.tracker.failures)} output records failed: {self.tracker.failures[0]}")
        if offsets:
            try:
                self.consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                raise BrokerError(f"offset commit failed: {exc}") from exc

    def abort(self) -> None:
        """Nothing to undo: uncommitted offsets are simply re-read."""


class ExactlyOnce:
    """One Kafka transaction per batch, holding its outputs and its input offsets."""

    def __init__(self, producer, consumer, tracker: DeliveryTracker, timeout_s: float = 30.0) -> None:
        self.producer = producer
        self.consumer = consumer
        self.tracker = tracker
        self.timeout_s = timeout_s
        self._open = False
        try:
            producer.init_transactions(timeout_s)
        except KafkaException as exc:
            raise BrokerError(f"cannot initialise transactions: {exc}") from exc

    def begin(self) -> None:
        self.tracker.reset()
        try:
            self.producer.begin_transaction()
        except KafkaException as exc:
            raise BrokerError(f"cannot begin a transaction: {exc}") from exc
        self._open = True

    def complete(self, offsets: list[TopicPartition]) -> None:
        try:
            if offsets:
                self.producer.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata(), self.timeout_s
                )
            self.producer.commit_transaction(self.timeout_s)
            self._open = False
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal():
                raise BrokerError(f"fatal transaction error: {error.str()}") from exc
            self.abort()
            raise TransactionError(f"transaction aborted: {error.str()}") from exc
        if self.tracker.failures:  # pragma: no cover - a committed transaction has every record acked
            raise DeliveryError(f"{len(self.tracker.failures)} output records failed: {self.tracker.failures[0]}")

    def abort(self) -> None:
        if not self._open:
            return
        try:
            self.producer.abort_transaction(self.timeout_s)
        except KafkaException as exc:
            raise BrokerError(f"cannot abort the transaction: {exc}") from exc
        finally:
            self._open = False
        log.warning("kafka.transaction_aborted")

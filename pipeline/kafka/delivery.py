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

A record the broker refuses for what it is (larger than the topic's ``max.message.bytes``, an
invalid record or timestamp: :data:`RECORD_REJECTED`) is that input record's fault, not the
cluster's, and must not stop the stage or loop forever. The broker judges whole record batches,
so records that merely shared a batch with the culprit are refused too: a refused output is
condemned only when it is refused again sent ALONE. At-least-once: the batch's other outputs
are acknowledged, so each refused output is re-sent alone; the inputs of those refused again
are dead-lettered (original bytes), flushed, and only then is the batch committed.
Exactly-once: the transaction aborts as above; the worker re-sends the refused records' outputs
alone when it re-reads them, and dead-letters on the next re-read the inputs refused alone.
Any other delivery failure still stops the batch uncommitted.

A synchronous commit's answer is checked per partition: a partition the group has already
given to another member (``ILLEGAL_GENERATION``, ``UNKNOWN_MEMBER_ID``,
``REBALANCE_IN_PROGRESS``) is logged and left to its new owner, who re-reads it (duplicates,
never loss); any other refusal stops the worker with :class:`CommitError`.

:class:`pipeline.kafka.checkpoint.Checkpoint` is the only user of these classes.

Consumers of the outputs must read with ``isolation.level=read_committed``. The consumer of
the input also reads committed data only, so aborted upstream transactions never get in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import structlog
from confluent_kafka import KafkaError, TopicPartition

from pipeline.kafka.clients import ConsumerClient, ProducerClient
from pipeline.kafka.errors import AbortableError, CommitError, DeliveryError, TransactionError

log = structlog.get_logger(__name__)
FLUSH_TIMEOUT_S = 60.0


#: Broker answers that condemn one record, not the cluster: re-sending it can never succeed.
RECORD_REJECTED = frozenset({
    KafkaError.MSG_SIZE_TOO_LARGE,  # RecordTooLarge: over the topic's max.message.bytes
    KafkaError.INVALID_MSG,  # CorruptRecord
    KafkaError.INVALID_MSG_SIZE,
    KafkaError.INVALID_RECORD,
    KafkaError.INVALID_TIMESTAMP,  # outside message.timestamp.difference.max.ms
})

#: Handles refused outputs ``[(output, error name), ...]``: re-send alone, dead-letter the inputs.
Reroute = Callable[[list[tuple[Any, str]]], None]


class Delivery(Protocol):
    def begin(self) -> None: ...

    def complete(self, offsets: list[TopicPartition], reroute: Reroute | None = None) -> set[tuple[str, int]]: ...

    def abort(self) -> None: ...


class DeliveryTracker:
    """Counts acknowledgements and remembers failures (the producer's ``on_delivery``).

    ``for_output(out)`` is the per-record callback: it also remembers WHICH output (and so
    which input) the broker refused, so that input (and only it) can be dead-lettered."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.rejected: list[tuple[Any, str]] = []  # (output, librdkafka error name)
        self.denied: list[tuple[str, str]] = []  # (topic, error name): an ACL missing, not a bad record
        self.acked = 0

    def __call__(self, err: KafkaError | None, msg) -> None:
        if err is None:
            self.acked += 1
        else:
            self.failures.append(f"{msg.topic()}: {err.str()}")
            if err.name().endswith("_AUTHORIZATION_FAILED"):
                self.denied.append((msg.topic(), err.name()))

    def for_output(self, out: Any) -> Callable[[KafkaError | None, Any], None]:
        def on_delivery(err: KafkaError | None, msg) -> None:
            self(err, msg)
            if err is not None and err.code() in RECORD_REJECTED:
                self.rejected.append((out, err.name()))
        return on_delivery

    def all_rejected(self) -> bool:
        """Every failure so far is a refused record with a known input."""
        return bool(self.failures) and len(self.rejected) == len(self.failures)

    def reset(self) -> None:
        self.failures.clear()
        self.rejected.clear()
        self.denied.clear()
        self.acked = 0


#: A commit refused for these is about ownership: the partition has a new owner who re-reads it.
OWNERSHIP_LOST = frozenset({"ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "REBALANCE_IN_PROGRESS"})


class AtLeastOnce:
    """Flush (all outputs acknowledged), then commit the batch's offsets."""

    def __init__(self, producer: ProducerClient, consumer: ConsumerClient, tracker: DeliveryTracker) -> None:
        self.producer = producer
        self.consumer = consumer
        self.tracker = tracker

    def begin(self) -> None:
        self.tracker.reset()

    def complete(self, offsets: list[TopicPartition], reroute: Reroute | None = None) -> set[tuple[str, int]]:
        """Returns the partitions whose commit went to a new owner instead (see the module doc)."""
        self._flush()
        if self.tracker.failures and reroute is not None and self.tracker.all_rejected():
            rejected = list(self.tracker.rejected)
            log.warning("kafka.outputs_refused", records=len(rejected))
            self.tracker.reset()
            reroute(rejected)  # re-sent alone, then dead letters; a refused dead letter fails below
            self._flush()
        if self.tracker.failures:
            raise DeliveryError(f"{len(self.tracker.failures)} output records failed: {self.tracker.failures[0]}")
        return self._commit(offsets) if offsets else set()

    def _commit(self, offsets: list[TopicPartition]) -> set[tuple[str, int]]:
        try:
            refused = self.consumer.commit(offsets)
        except CommitError as exc:
            if exc.code not in OWNERSHIP_LOST:
                raise
            refused = [(tp, exc.code) for tp in offsets]
        lost: set[tuple[str, int]] = set()
        for tp, err in refused:
            name = err if isinstance(err, str) else err.name()
            if name not in OWNERSHIP_LOST:
                raise CommitError(f"offset commit failed for {tp.topic}[{tp.partition}]: {name}", code=name)
            lost.add((tp.topic, tp.partition))
        if lost:
            log.warning("kafka.commit_refused_partition_reassigned", partitions=sorted(f"{t}[{p}]" for t, p in lost))
        return lost

    def _flush(self) -> None:
        remaining = self.producer.flush(FLUSH_TIMEOUT_S)
        if remaining:
            raise DeliveryError(f"{remaining} output records not acknowledged after {FLUSH_TIMEOUT_S:.0f}s")

    def abort(self) -> None:
        """Nothing to undo: uncommitted offsets are simply re-read."""


class ExactlyOnce:
    """One Kafka transaction per batch, holding its outputs and its input offsets."""

    def __init__(self, producer: ProducerClient, consumer: ConsumerClient, tracker: DeliveryTracker,
                 timeout_s: float = 30.0) -> None:
        self.producer = producer
        self.consumer = consumer
        self.tracker = tracker
        self.timeout_s = timeout_s
        self._open = False
        producer.init_transactions(timeout_s)

    @property
    def open(self) -> bool:
        return self._open

    def begin(self) -> None:
        self.tracker.reset()
        self.producer.begin_transaction()
        self._open = True

    def complete(self, offsets: list[TopicPartition], reroute: Reroute | None = None) -> set[tuple[str, int]]:
        """``reroute`` is not used here: refused records abort the transaction, and the worker
        dead-letters their inputs when it re-reads them (``tracker.rejected`` says which)."""
        try:
            if offsets:
                self.producer.send_offsets(offsets, self.consumer.group_metadata(), self.timeout_s)
            self.producer.commit_transaction(self.timeout_s)
            self._open = False
        except AbortableError as exc:
            self.abort()
            raise TransactionError(f"transaction aborted: {exc}") from exc
        if self.tracker.failures:  # pragma: no cover - a committed transaction has every record acked
            raise DeliveryError(f"{len(self.tracker.failures)} output records failed: {self.tracker.failures[0]}")
        return set()

    def abort(self) -> None:
        if not self._open:
            return
        try:
            self.producer.abort_transaction(self.timeout_s)
        finally:
            self._open = False
        log.warning("kafka.transaction_aborted")

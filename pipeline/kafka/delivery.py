"""Delivery guarantees: when a batch's offsets are committed, relative to its outputs.

At-least-once (default), per micro-batch: produce every output, ``flush()`` until each is
acknowledged (``acks=all``, idempotent producer), then commit the batch's offsets
synchronously; a failed delivery raises :class:`DeliveryError` and commits nothing, so a crash
re-delivers only that batch (duplicates, never loss). Outputs refused for what they are are
handed back by :meth:`AtLeastOnce.complete`, uncommitted, for ``refusals.py`` to settle.

Exactly-once (``delivery = exactly_once``): one transaction per batch holding its outputs and
its offsets (``send_offsets_to_transaction``); on an abortable error it is aborted and the
worker rewinds (:class:`TransactionError`); fatal errors (fenced) propagate.

A commit refused for a partition the group gave to another member (:data:`OWNERSHIP_LOST`)
is left to its new owner, who re-reads it; any other refusal is a :class:`CommitError`.
docs/ARCHITECTURE.md ("Kafka stage") writes the order down step by step.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import structlog
from confluent_kafka import TopicPartition

from pipeline.kafka.clients import ConsumerClient, ProducerClient
from pipeline.kafka.errors import AbortableError, CommitError, DeliveryError, TransactionError
from pipeline.kafka.refusals import Refusals, Refused
from pipeline.kafka.sender import DeliveryTracker, flush

log = structlog.get_logger(__name__)


class Completed(NamedTuple):
    """What :meth:`Delivery.complete` did: ``refused`` outputs (nothing committed: settle them,
    then complete again), or the commit, less the partitions ``reassigned`` to a new owner."""

    refused: list[Refused]
    reassigned: set[tuple[str, int]]


class Delivery(Protocol):
    def begin(self) -> None: ...

    def complete(self, offsets: list[TopicPartition]) -> Completed: ...

    def abort(self) -> None: ...


#: A commit refused for these is about ownership: the partition has a new owner who re-reads it.
OWNERSHIP_LOST = frozenset({"ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "REBALANCE_IN_PROGRESS"})


class AtLeastOnce:
    """Flush (all outputs acknowledged), then commit the batch's offsets."""

    def __init__(self, producer: ProducerClient, consumer: ConsumerClient, tracker: DeliveryTracker,
                 refusals: Refusals) -> None:
        self.producer = producer
        self.consumer = consumer
        self.tracker = tracker
        self.refusals = refusals

    def begin(self) -> None:
        self.tracker.reset()

    def complete(self, offsets: list[TopicPartition]) -> Completed:
        """Commits when every output is acknowledged; hands back, uncommitted, outputs refused
        for what they are when they are the only failures; raises on any other failure."""
        flush(self.producer)
        if refused := self.refusals.all_refused():
            return Completed(refused, set())
        if self.tracker.failures:
            raise DeliveryError(f"{len(self.tracker.failures)} output records failed: {self.tracker.failures[0]}")
        return Completed([], self._commit(offsets) if offsets else set())

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

    def complete(self, offsets: list[TopicPartition]) -> Completed:
        """Refused outputs abort the transaction (:class:`TransactionError`); the worker settles
        them when it re-reads their records (``refusals.py``)."""
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
        return Completed([], set())

    def abort(self) -> None:
        if not self._open:
            return
        try:
            self.producer.abort_transaction(self.timeout_s)
        finally:
            self._open = False
        log.warning("kafka.transaction_aborted")

"""The checkpoint: what a worker has read but not yet committed, and the batch's commit.

It holds the uncommitted offsets (per partition, the first offset not yet committed: where an
exactly-once worker rewinds to after an aborted transaction) and the open transaction, through
the delivery guarantee (``delivery.py``), as quix-streams' ``checkpointing/checkpoint.py`` does.
Refused outputs are ``refusals.py``'s; docs/ARCHITECTURE.md ("Kafka stage") has the order.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import TopicPartition

from pipeline.kafka.delivery import Delivery
from pipeline.kafka.records import Pending
from pipeline.kafka.refusals import Refused


class Checkpoint:
    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery
        #: first offset not yet committed, per partition this worker has read from
        self.uncommitted: dict[tuple[str, int], int] = {}

    # -- reading ------------------------------------------------------------------------

    def track(self, item: Pending) -> None:
        """A record was read: its partition has uncommitted work from here on."""
        self.uncommitted.setdefault((item.source.topic, item.source.partition), item.source.offset)

    def release(self, parts: Iterable[tuple[str, int]]) -> None:
        """Partitions left this worker: forget their uncommitted offsets."""
        for part in parts:
            self.uncommitted.pop(part, None)

    def rewind_to(self, assigned: set[tuple[str, int]]) -> list[TopicPartition]:
        """After an abort: where to seek each assigned partition (its first uncommitted offset)."""
        return [TopicPartition(t, p, off) for (t, p), off in self.uncommitted.items() if (t, p) in assigned]

    # -- one batch ----------------------------------------------------------------------

    def begin(self) -> None:
        """Open the batch (a transaction, exactly-once)."""
        self.delivery.begin()

    def commit(self, batch: list[Pending]) -> list[Refused]:
        """Commit the batch's outputs and offsets (:class:`TransactionError`: aborted, re-read
        it). At-least-once, outputs refused for what they are come back and nothing is
        committed: settle them (``Refusals.resend_alone``), then commit again."""
        offsets = next_offsets(batch)
        done = self.delivery.complete(offsets)
        if done.refused:
            return done.refused
        for tp in offsets:
            if (tp.topic, tp.partition) not in done.reassigned:
                self.uncommitted[(tp.topic, tp.partition)] = tp.offset
        return []

    def abort(self) -> None:
        """Abort the open transaction, if any (the batch will be re-read)."""
        self.delivery.abort()


def next_offsets(batch: list[Pending]) -> list[TopicPartition]:
    """Next offset to read per partition (``last + 1``; batches are in offset order)."""
    last: dict[tuple[str, int], int] = {}
    for item in batch:
        last[(item.source.topic, item.source.partition)] = item.source.offset
    return [TopicPartition(t, p, off + 1) for (t, p), off in last.items()]

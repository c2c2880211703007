"""The checkpoint: what a worker has read but not yet committed, and how a batch commits.

One object owns the three things that decide what is safe to commit (quix-streams'
``checkpointing/checkpoint.py`` is the model):

- the **uncommitted offsets**: per partition, the first offset not yet committed (where an
  exactly-once worker rewinds to after an aborted transaction);
- the **open transaction** (or, at-least-once, the flush-then-commit order), through the
  delivery guarantee of ``delivery.py``, whose docstring writes the order down;
- the **refusal bookkeeping**: which outputs the broker refused, alone or in a shared record
  batch, so a refused record ends as a dead letter instead of looping (``delivery.py``).

The worker calls, per batch: :meth:`begin` (judges refusals remembered from aborted
transactions), produces, then :meth:`commit`; on :class:`TransactionError` the batch was
aborted: the worker calls :meth:`aborted` and rewinds with :meth:`rewind_to`.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import TopicPartition

from pipeline.kafka.clients import ConsumerClient, ProducerClient
from pipeline.kafka.delivery import AtLeastOnce, Delivery, DeliveryTracker, ExactlyOnce, Reroute
from pipeline.kafka.errors import OutputRefusedError
from pipeline.kafka.records import Pending

RecordKey = tuple[str, int, int]  # input topic, partition, offset
OutputKey = tuple[RecordKey, str]  # an input record's output to one topic


class Checkpoint:
    def __init__(self, producer: ProducerClient, consumer: ConsumerClient, *, exactly_once: bool,
                 tracker: DeliveryTracker) -> None:
        self.tracker = tracker
        self.exactly_once = exactly_once
        self.delivery: Delivery = (ExactlyOnce(producer, consumer, tracker) if exactly_once
                                   else AtLeastOnce(producer, consumer, tracker))
        #: first offset not yet committed, per partition this worker has read from
        self.uncommitted: dict[tuple[str, int], int] = {}
        # exactly-once, outputs the broker refused in an aborted transaction: refused in a shared
        # record batch (send alone next time), refused alone (dead-letter the input) -> error name
        self._suspects: set[OutputKey] = set()
        self._refused: dict[RecordKey, str] = {}
        self._alone: set[OutputKey] = set()
        self._passed: set[OutputKey] = set()

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

    def begin(self, batch: list[Pending]) -> None:
        """Open the batch (a transaction, exactly-once). Inputs whose outputs were refused alone
        in an aborted transaction become dead letters now; outputs refused in a shared record
        batch will be sent alone (:meth:`sends_alone`)."""
        self._alone, self._passed = set(), set()
        if self._refused or self._suspects:
            keys = {item.key for item in batch}
            for item in batch:
                code = self._refused.get(item.key)
                if code is not None and item.error is None:
                    item.error = OutputRefusedError("the broker refused an output of this record", code=code)
            self._alone = {o for o in self._suspects if o[0] in keys}
            self._suspects -= self._alone
        self.delivery.begin()

    def sends_alone(self, item: Pending, topic: str) -> bool:
        return (item.key, topic) in self._alone

    def passed_alone(self, item: Pending, topic: str) -> None:
        """An output sent alone was acknowledged: it is innocent."""
        self._passed.add((item.key, topic))

    def commit(self, batch: list[Pending], reroute: Reroute | None = None) -> None:
        """Commit the batch's outputs and offsets (:class:`TransactionError`: aborted, re-read it)."""
        offsets = next_offsets(batch)
        lost = self.delivery.complete(offsets, reroute)
        for tp in offsets:
            if (tp.topic, tp.partition) not in lost:
                self.uncommitted[(tp.topic, tp.partition)] = tp.offset
        if self._refused or self._suspects:  # committed: these inputs are settled
            settled = {item.key for item in batch}
            self._suspects = {o for o in self._suspects if o[0] not in settled}
            for key in settled:
                self._refused.pop(key, None)

    def abort(self) -> None:
        """Abort the open transaction, if any (the batch will be re-read)."""
        self.delivery.abort()

    def aborted(self) -> None:
        """Exactly-once, the batch's transaction failed: abort it (if still open) and remember
        which outputs the broker refused, alone or not, for when the records are re-read."""
        self.delivery.abort()
        for out, code in self.tracker.rejected:
            okey = (out.item.key, out.topic)
            if okey in self._alone:
                self._refused[okey[0]] = code
            else:
                self._suspects.add(okey)
        # sent alone and acknowledged: innocent; not judged yet (the transaction failed first): again
        self._suspects |= {o for o in self._alone - self._passed if o[0] not in self._refused}
        self._alone = set()


def next_offsets(batch: list[Pending]) -> list[TopicPartition]:
    """Next offset to read per partition (``last + 1``; batches are in offset order)."""
    last: dict[tuple[str, int], int] = {}
    for item in batch:
        last[(item.source.topic, item.source.partition)] = item.source.offset
    return [TopicPartition(t, p, off + 1) for (t, p), off in last.items()]

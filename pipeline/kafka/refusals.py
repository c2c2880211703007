"""Refused outputs: which input is to blame when an output is refused, and when it is dead-lettered.

An output refused for what it is (over the producer's ``message.max.bytes`` at ``produce()``, or
by the broker at delivery: :data:`RECORD_REJECTED`) is its input's fault, not the cluster's: the
input becomes a dead letter (original bytes, ``ner.outputs.published`` naming which of its
outputs did go out) and the stream goes on, instead of stopping or looping forever. The broker
judges whole record batches, so outputs that merely shared a batch with the culprit are
refused too: an output counts as refused only when it is refused again sent ALONE.
At-least-once re-sends the refused outputs alone before the batch commits; exactly-once
aborts, and sends them alone when the records are re-read. :class:`Refusals` is this rule,
in one place; docs/ARCHITECTURE.md ("Kafka stage") has the whole commit order.
"""

from __future__ import annotations

from typing import NamedTuple

import structlog
from confluent_kafka import KafkaError

from pipeline.kafka.dead_letters import DeadLetters
from pipeline.kafka.errors import (
    DeliveryError,
    OutputRefusedError,
    OutputTooLargeError,
    ProduceTooLargeError,
    TransactionError,
)
from pipeline.kafka.records import DEAD_LETTER, Output, Pending
from pipeline.kafka.sender import DeliveryTracker, OnDelivery, OutputSender

log = structlog.get_logger(__name__)

#: Broker answers that refuse one record, not the cluster: re-sending it can never succeed.
RECORD_REJECTED = frozenset({
    KafkaError.MSG_SIZE_TOO_LARGE,  # RecordTooLarge: over the topic's max.message.bytes
    KafkaError.INVALID_MSG,  # CorruptRecord
    KafkaError.INVALID_MSG_SIZE,
    KafkaError.INVALID_RECORD,
    KafkaError.INVALID_TIMESTAMP,  # outside message.timestamp.difference.max.ms
})

RecordKey = tuple[str, int, int]  # input topic, partition, offset
OutputKey = tuple[RecordKey, str]  # an input record's output to one topic


class Refused(NamedTuple):
    """An output the broker refused for what it is, with librdkafka's error name."""

    output: Output
    code: str


class Refusals:
    """Produces a batch's outputs so that a refused one is traced to its input, and decides
    what becomes of that input. Per batch: :meth:`begin`, :meth:`send`, then (at-least-once,
    when the delivery hands back refused outputs) :meth:`resend_alone`; :meth:`committed` or
    :meth:`aborted` at the end."""

    def __init__(self, sender: OutputSender, tracker: DeliveryTracker, letters: DeadLetters, *,
                 exactly_once: bool) -> None:
        self.sender = sender
        self.tracker = tracker
        self.letters = letters
        self.exactly_once = exactly_once
        #: outputs the broker refused for what they are since the last reset
        self.rejected: list[Refused] = []
        #: per input record (``id(item)``): the kinds of its outputs produced in this batch
        self._produced: dict[int, set[str]] = {}
        # exactly-once, across aborted transactions of the same records: outputs refused in a
        # shared record batch (send them alone next time), inputs with an output refused alone
        # (dead-letter them next time, with the error name), and this batch's outputs sent alone
        self._send_alone_next: set[OutputKey] = set()
        self._refused_alone: dict[RecordKey, str] = {}
        self._sending_alone: set[OutputKey] = set()
        self._delivered_alone: set[OutputKey] = set()

    # -- one batch ----------------------------------------------------------------------

    def begin(self, batch: list[Pending]) -> None:
        """Before the batch is computed. Exactly-once: inputs with an output refused alone in an
        aborted transaction are marked for the dead-letter topic; outputs refused in a shared
        record batch will be sent alone."""
        self.rejected.clear()
        self._sending_alone, self._delivered_alone = set(), set()
        if not (self._refused_alone or self._send_alone_next):
            return
        keys = {item.key for item in batch}
        for item in batch:
            code = self._refused_alone.get(item.key)
            if code is not None and item.error is None:
                item.error = OutputRefusedError("the broker refused an output of this record", code=code)
        self._sending_alone = {o for o in self._send_alone_next if o[0] in keys}
        self._send_alone_next -= self._sending_alone

    def send(self, outputs: list[Output]) -> None:
        """Queue every output in order (the delivery's ``complete`` waits for them)."""
        self._produced = {}
        for out in outputs:
            item = out.item
            if out.kind != DEAD_LETTER and item is not None and item.error is not None:
                continue  # dead-lettered while producing its other output
            if out.kind == DEAD_LETTER:
                self._produce(out)
            elif item is not None and (item.key, out.topic) in self._sending_alone:
                self._send_alone(out)
            else:  # per-record callback: a record the broker refuses can be traced to its input
                self._produce(out, self._traced(out) if item is not None else None)
        self.sender.poll()

    def all_refused(self) -> list[Refused]:
        """The refused outputs, when every delivery failure so far is one (else none: those
        failures stop the batch)."""
        failures = self.tracker.failures
        return list(self.rejected) if failures and len(self.rejected) == len(failures) else []

    def resend_alone(self, refused: list[Refused]) -> None:
        """At-least-once, the batch's other outputs acknowledged: re-send each refused output
        alone; the inputs of those refused again are dead-lettered (once each), so the batch can
        commit. The dead letters are queued, not yet acknowledged."""
        log.warning("kafka.outputs_refused", records=len(refused))
        self._reset()
        to_dead_letter: dict[int, tuple[Pending, str]] = {}
        not_out: dict[int, set[str]] = {}  # per input: the kinds of its outputs refused in the batch
        for out, _ in refused:
            not_out.setdefault(id(out.item), set()).add(out.kind)
        for out, code in {id(out): (out, code) for out, code in refused}.values():
            self._reset()
            self._send_alone(out)
            if self.tracker.failures and len(self.rejected) != len(self.tracker.failures):
                raise DeliveryError(f"output record failed: {self.tracker.failures[0]}")
            if self.tracker.failures:
                to_dead_letter.setdefault(id(out.item), (out.item, code))
            else:
                not_out[id(out.item)].discard(out.kind)  # went out alone
        self._reset()
        for item, code in to_dead_letter.values():
            item.error = OutputRefusedError("the broker refused an output of this record", code=code)
            self._dead_letter(item, self._produced.get(id(item), set()) - not_out[id(item)])
        self.sender.poll()

    def committed(self, batch: list[Pending]) -> None:
        """The batch committed: its inputs are settled."""
        if self._refused_alone or self._send_alone_next:
            settled = {item.key for item in batch}
            self._send_alone_next = {o for o in self._send_alone_next if o[0] not in settled}
            for key in settled:
                self._refused_alone.pop(key, None)

    def aborted(self) -> None:
        """Exactly-once, the batch's transaction aborted: remember which outputs the broker
        refused, alone or not, for when their records are re-read."""
        for out, code in self.rejected:
            okey = (out.item.key, out.topic)
            if okey in self._sending_alone:
                self._refused_alone[okey[0]] = code
            else:
                self._send_alone_next.add(okey)
        # sent alone and acknowledged: not to blame; not judged yet (the transaction failed first): again
        self._send_alone_next |= {o for o in self._sending_alone - self._delivered_alone
                                  if o[0] not in self._refused_alone}
        self._sending_alone = set()

    # -- producing ----------------------------------------------------------------------

    def _produce(self, out: Output, on_delivery: OnDelivery | None = None) -> None:
        """Produce one output; one over the producer's ``message.max.bytes`` dead-letters its
        input instead (its other output, if already queued, stays)."""
        try:
            self.sender.produce(out, on_delivery)
            if out.kind != DEAD_LETTER and out.item is not None:
                self._produced.setdefault(id(out.item), set()).add(out.kind)
        except ProduceTooLargeError:
            if out.kind == DEAD_LETTER or out.item is None:
                raise  # a dead letter is sized to fit: if it does not, the limits are misconfigured
            out.item.error = OutputTooLargeError(f"the {out.kind} record ({len(out.value or b'')} bytes) is over "
                                                 "the producer's message.max.bytes")
            self._dead_letter(out.item, self._produced.get(id(out.item), set()))

    def _dead_letter(self, item: Pending, published: set[str]) -> None:
        """Dead letters go to the producer's default ``on_delivery``: a refused one is not retried
        smaller but stops the batch uncommitted (the topic's limit was read at start-up)."""
        letter = self.letters.letter(item, published)
        if letter is not None:
            self._produce(letter)

    def _send_alone(self, out: Output) -> None:
        """Produce one output in a record batch of its own (flush before and after), so the
        broker's verdict on it is about it alone. Exactly-once: a refusal means the transaction
        cannot commit (:class:`TransactionError`: the worker aborts it)."""
        self.sender.flush()
        self._produce(out, self._traced(out))
        self.sender.flush()
        failures = self.tracker.failures
        if self.exactly_once and failures:
            raise TransactionError(f"transaction aborted: an output sent alone was refused ({failures[0]})")
        if out.item is not None:
            self._delivered_alone.add((out.item.key, out.topic))

    def _traced(self, out: Output) -> OnDelivery:
        """The per-record ``on_delivery``: counts like the tracker, and remembers a refusal."""
        def on_delivery(err: KafkaError | None, msg) -> None:
            self.tracker(err, msg)
            if err is not None and err.code() in RECORD_REJECTED:
                self.rejected.append(Refused(out, err.name()))
        return on_delivery

    def _reset(self) -> None:
        self.tracker.reset()
        self.rejected.clear()

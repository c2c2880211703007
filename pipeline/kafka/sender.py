"""Producing a batch's outputs: partition pinning, refused records, sending alone.

Every output record (entities, redacted, dead letters) leaves through :meth:`OutputSender.send`
and :meth:`OutputSender._send_one`, so the rules are in one place:

- a record with no key goes to output partition ``input partition % partitions`` (librdkafka
  would scatter it), a record with a key follows the key, except in-place output (``pinned``),
  which always keeps the input's partition number (modulo the output's partitions);
- an output that ``produce()`` refuses as larger than the producer's ``message.max.bytes`` is
  its input's fault: the input is dead-lettered instead (its other output, if already
  queued, stays);
- outputs the broker refused in a shared record batch are re-sent alone, and the inputs of
  those refused again are dead-lettered (``delivery.py`` explains why);
- the dead letter of an input whose output was refused says which of its outputs did go out
  (``ner.outputs.published``: ``entities``, ``redacted``, both comma-separated, or empty), so a
  re-drive can skip them instead of publishing them twice (docs/OPERATIONS.md).

Dead letters are built by :class:`~pipeline.kafka.dead_letters.DeadLetters` (sized to fit) and
tracked by the producer's default ``on_delivery``: a refused dead letter is not retried as a
smaller one but stops the batch uncommitted, because the topic's limit was read at start-up.
"""

from __future__ import annotations

import structlog

from pipeline.kafka.checkpoint import Checkpoint
from pipeline.kafka.clients import ProducerClient
from pipeline.kafka.dead_letters import DeadLetters
from pipeline.kafka.delivery import FLUSH_TIMEOUT_S
from pipeline.kafka.errors import (
    DeliveryError,
    OutputRefusedError,
    OutputTooLargeError,
    ProduceTooLargeError,
    TransactionError,
)
from pipeline.kafka.records import DEAD_LETTER, Output, Pending

log = structlog.get_logger(__name__)


class OutputSender:
    def __init__(self, producer: ProducerClient, checkpoint: Checkpoint, letters: DeadLetters) -> None:
        self.producer = producer
        self.checkpoint = checkpoint
        self.letters = letters
        self._partitions: dict[str, int | None] = {}
        #: per input record (``id(item)``): the kinds of its outputs produced in this batch
        self._sent: dict[int, set[str]] = {}

    def send(self, outputs: list[Output]) -> None:
        """Queue every output (librdkafka sends them in the background; the checkpoint's commit
        waits for the acknowledgements)."""
        tracker = self.checkpoint.tracker
        self._sent = {}
        for out in outputs:
            item = out.item
            if out.kind != DEAD_LETTER and item is not None and item.error is not None:
                continue  # dead-lettered while producing its other output
            if out.kind == DEAD_LETTER:
                self._send_one(out)
            elif item is not None and self.checkpoint.sends_alone(item, out.topic):
                self._send_alone(out)
            else:  # per-record callback: a record the broker refuses can be traced to its input
                self._send_one(out, tracker.for_output(out) if item is not None else None)
        self.producer.poll(0)

    def _send_one(self, out: Output, on_delivery=None) -> None:
        partition = -1 if out.key is not None and not out.pinned else self._pin(out.topic, out.partition)
        try:
            self.producer.produce(out.topic, out.value, out.key, partition=partition, headers=out.headers,
                                  on_delivery=on_delivery)
            if out.kind != DEAD_LETTER and out.item is not None:
                self._sent.setdefault(id(out.item), set()).add(out.kind)
        except ProduceTooLargeError:
            if out.kind == DEAD_LETTER or out.item is None:
                raise  # a dead letter is sized to fit: if it does not, the limits are misconfigured
            out.item.error = OutputTooLargeError(f"the {out.kind} record ({len(out.value or b'')} bytes) is over "
                                                 "the producer's message.max.bytes")
            self._dead_letter(out.item, self._sent.get(id(out.item), set()))

    def _dead_letter(self, item: Pending, published: set[str]) -> None:
        letter = self.letters.letter(item, published)
        if letter is not None:
            self._send_one(letter)

    def _send_alone(self, out: Output) -> None:
        """Produce one output in a record batch of its own (flush before and after), so the
        broker's verdict on it is about it alone. Exactly-once: a refusal means the transaction
        cannot commit; :class:`DeliveryError` is not raised, the checkpoint aborts it instead."""
        tracker = self.checkpoint.tracker
        self._flush_all()
        self._send_one(out, tracker.for_output(out))
        self._flush_all()
        if self.checkpoint.exactly_once and tracker.failures:
            raise TransactionError(f"transaction aborted: an output sent alone was refused ({tracker.failures[0]})")
        if out.item is not None:
            self.checkpoint.passed_alone(out.item, out.topic)

    def _flush_all(self) -> None:
        remaining = self.producer.flush(FLUSH_TIMEOUT_S)
        if remaining:
            raise DeliveryError(f"{remaining} output records not acknowledged after {FLUSH_TIMEOUT_S:.0f}s")

    def reroute(self, rejected: list[tuple[Output, str]]) -> None:
        """At-least-once, after outputs the broker refused: re-send each alone; dead-letter the
        inputs of those refused again (once each, original bytes) so the batch can commit."""
        tracker = self.checkpoint.tracker
        condemned: dict[int, tuple[Pending, str]] = {}
        refused: dict[int, set[str]] = {}  # per input: the kinds of its outputs refused in the batch
        for out, _ in rejected:
            refused.setdefault(id(out.item), set()).add(out.kind)
        for out, code in {id(out): (out, code) for out, code in rejected}.values():
            tracker.reset()
            self._send_alone(out)
            if tracker.failures and not tracker.all_rejected():
                raise DeliveryError(f"output record failed: {tracker.failures[0]}")
            if tracker.failures:
                condemned.setdefault(id(out.item), (out.item, code))
            else:
                refused[id(out.item)].discard(out.kind)  # went out alone
        tracker.reset()
        for item, code in condemned.values():
            item.error = OutputRefusedError("the broker refused an output of this record", code=code)
            self._dead_letter(item, self._sent.get(id(item), set()) - refused[id(item)])
        self.producer.poll(0)

    def _pin(self, topic: str, partition: int) -> int:
        """Output partition for a null-key record: the input partition modulo the topic's count."""
        if topic not in self._partitions:
            self._partitions[topic] = self.producer.partitions(topic)
        count = self._partitions[topic]
        return -1 if not count else partition % count

"""Refused outputs (``pipeline.kafka.refusals``) without a worker: which input is to blame when
an output is refused, alone or in a shared record batch, and when that input is dead-lettered
(at-least-once before the commit, exactly-once across aborted transactions)."""

from __future__ import annotations

import pytest

from pipeline.kafka.clients import ProducerClient
from pipeline.kafka.dead_letters import DeadLetters
from pipeline.kafka.documents import Source
from pipeline.kafka.errors import (
    DeliveryError,
    OutputRefusedError,
    OutputTooLargeError,
    ProduceTooLargeError,
    TransactionError,
)
from pipeline.kafka.records import ENTITIES, REDACTED, Output, Pending
from pipeline.kafka.refusals import Refusals
from pipeline.kafka.sender import DeliveryTracker, OutputSender
from tests.unit.kafka.fakes import FakeMsg, FakeProducer

LIMIT = 100  # the output topics' max.message.bytes in these tests


def _refusals(*, exactly_once: bool = False, judge_batches: bool = True) -> tuple[Refusals, FakeProducer]:
    """Refusals over a fake producer whose broker refuses records over ``LIMIT``; with
    ``judge_batches`` one such record fails every record flushed with it, as brokers judge
    whole record batches."""
    tracker = DeliveryTracker()
    raw = FakeProducer({"on_delivery": tracker})
    raw.broker_max_bytes = LIMIT
    if judge_batches:
        flush = raw.flush

        def flush_judging_batches(timeout=None):
            saved = raw.broker_max_bytes
            if any(len(r["value"] or b"") > LIMIT for r in raw.unacked):
                raw.broker_max_bytes = 0
            try:
                return flush(timeout)
            finally:
                raw.broker_max_bytes = saved

        raw.flush = flush_judging_batches
    sender = OutputSender(ProducerClient(raw, transactional=exactly_once))
    return Refusals(sender, tracker, DeadLetters("dlq", 10_000), exactly_once=exactly_once), raw


def _item(offset: int) -> Pending:
    return Pending(FakeMsg("in", 0, offset, b"original %d" % offset, key=b"k%d" % offset), Source("in", 0, offset))


def _outputs(item: Pending, entities: int = 10, redacted: int = 10) -> list[Output]:
    return [Output(ENTITIES, "ents", item.msg.key(), b"e" * entities, None, 0, item),
            Output(REDACTED, "red", item.msg.key(), b"r" * redacted, None, 0, item)]


def _begin(refusals: Refusals, batch: list[Pending]) -> None:
    refusals.tracker.reset()  # as the delivery's begin() does (a new transaction, exactly-once)
    refusals.begin(batch)


def _letters(raw: FakeProducer) -> list[dict]:
    return [r for r in raw.produced if r["topic"] == "dlq"]


def test_at_least_once_only_the_input_whose_output_is_refused_alone_is_dead_lettered():
    refusals, raw = _refusals()
    items = [_item(0), _item(1), _item(2)]
    _begin(refusals, items)
    refusals.send(_outputs(items[0]) + _outputs(items[1], redacted=LIMIT + 1) + _outputs(items[2]))
    raw.flush()
    refused = refusals.all_refused()
    assert len(refused) == 6 and {r.code for r in refused} == {"MSG_SIZE_TOO_LARGE"}  # the whole record batch
    refusals.resend_alone(refused)
    raw.flush()
    (letter,) = _letters(raw)
    assert letter["key"] == b"k1" and letter["value"] == b"original 1"  # the original bytes
    headers = dict(letter["headers"])
    assert headers["ner.error.class"] == b"OutputRefusedError"
    assert headers["ner.outputs.published"] == b"entities"  # its entities went out alone
    assert isinstance(items[1].error, OutputRefusedError) and items[0].error is None and items[2].error is None
    assert refusals.tracker.failures == []  # the batch can commit


def test_a_failure_that_is_not_a_refusal_hands_nothing_back():
    refusals, raw = _refusals(judge_batches=False)
    raw.fail_topic = "red"  # timed out: the cluster's fault, not the record's
    item = _item(0)
    _begin(refusals, [item])
    refusals.send(_outputs(item, entities=LIMIT + 1))
    raw.flush()
    assert len(refusals.rejected) == 1 and refusals.all_refused() == []  # the delivery raises DeliveryError


def test_an_output_sent_alone_that_fails_otherwise_stops_the_batch():
    refusals, raw = _refusals()
    item = _item(0)
    _begin(refusals, [item])
    refusals.send(_outputs(item, redacted=LIMIT + 1))
    raw.flush()
    raw.fail_topic = "ents"
    with pytest.raises(DeliveryError, match="output record failed"):
        refusals.resend_alone(refusals.all_refused())
    assert _letters(raw) == []


def test_an_output_over_the_producers_limit_dead_letters_its_input_at_once():
    refusals, raw = _refusals(judge_batches=False)
    raw.max_bytes = 50  # produce() refuses it: message.max.bytes
    items = [_item(0), _item(1)]
    _begin(refusals, items)
    refusals.send(_outputs(items[0], redacted=60) + _outputs(items[1]))
    assert [(r["topic"], r["key"]) for r in raw.produced] == [("ents", b"k0"), ("dlq", b"k0"), ("ents", b"k1"),
                                                              ("red", b"k1")]
    headers = dict(raw.produced[1]["headers"])
    assert headers["ner.error.class"] == b"OutputTooLargeError" and headers["ner.outputs.published"] == b"entities"
    assert isinstance(items[0].error, OutputTooLargeError)
    items[1].error = OutputRefusedError("x", code="MSG_SIZE_TOO_LARGE")
    raw.max_bytes = 5
    with pytest.raises(ProduceTooLargeError):  # a dead letter over the limit: misconfigured, a stage error
        refusals.send([refusals.letters.letter(items[1], set())])


def test_exactly_once_sends_alone_on_re_read_then_dead_letters_on_the_next():
    refusals, raw = _refusals(exactly_once=True)
    first = [_item(0), _item(1)]
    _begin(refusals, first)
    refusals.send(_outputs(first[0]) + _outputs(first[1], redacted=LIMIT + 1))
    raw.flush()  # the transaction's commit fails: the worker aborts
    refusals.aborted()
    again = [_item(0), _item(1)]  # the same records, re-read after the rewind
    _begin(refusals, again)
    assert all(item.error is None for item in again)  # refused in a shared batch: not to blame yet
    raw.produced.clear()
    with pytest.raises(TransactionError, match="sent alone was refused"):
        refusals.send(_outputs(again[0]) + _outputs(again[1], redacted=LIMIT + 1))
    alone = [(r["topic"], r["key"]) for r in raw.produced]  # each in a record batch of its own
    assert alone == [("ents", b"k0"), ("red", b"k0"), ("ents", b"k1"), ("red", b"k1")]
    refusals.aborted()
    third = [_item(0), _item(1)]
    _begin(refusals, third)
    assert third[0].error is None
    assert isinstance(third[1].error, OutputRefusedError) and third[1].error.code == "MSG_SIZE_TOO_LARGE"
    flushes = raw.events.count("flush")
    refusals.send(_outputs(third[0]))  # the processor makes k1's dead letter from its error
    assert raw.events.count("flush") == flushes  # k0 went out alone before: back in a shared batch
    refusals.committed(third)
    fourth = [_item(1)]  # a later read of the same offset (another owner's re-read): judged afresh
    _begin(refusals, fourth)
    assert fourth[0].error is None

"""MicroBatcher: batches close on count, token budget or max wait; order is kept; nothing is split."""

from __future__ import annotations

from pipeline.kafka.batcher import BatchLimits, MicroBatcher


def test_batch_closes_on_record_count_and_keeps_arrival_order():
    b = MicroBatcher(BatchLimits(max_records=3, max_tokens=1000, max_wait_s=10))
    for i in range(5):
        b.add(i, 10, now=0.0)
    assert b.ready(0.0)
    assert b.take() == ([0, 1, 2], 30)
    assert not b.ready(0.0) and len(b) == 2
    assert b.take() == ([3, 4], 20)


def test_token_budget_cuts_before_the_document_that_would_exceed_it():
    b = MicroBatcher(BatchLimits(max_records=100, max_tokens=100, max_wait_s=10))
    for i, tokens in enumerate([40, 40, 40]):
        b.add(i, tokens, now=0.0)
    assert b.ready(0.0)  # 120 queued tokens >= budget
    assert b.take() == ([0, 1], 80)
    assert b.tokens == 40


def test_a_document_larger_than_the_budget_forms_its_own_batch():
    b = MicroBatcher(BatchLimits(max_records=100, max_tokens=100, max_wait_s=10))
    b.add("huge", 500, now=0.0)
    b.add("small", 5, now=0.0)
    assert b.take() == (["huge"], 500)
    assert b.take() == (["small"], 5)


def test_max_wait_releases_a_short_batch():
    b = MicroBatcher(BatchLimits(max_records=100, max_tokens=1000, max_wait_s=0.05))
    b.add("a", 1, now=10.0)
    assert not b.ready(10.01)
    assert abs(b.wait_s(10.01) - 0.04) < 1e-9
    assert b.ready(10.05)
    assert b.wait_s(10.2) == 0.0


def test_drop_removes_items_and_their_tokens():
    b = MicroBatcher(BatchLimits())
    for i in range(6):
        b.add(i, 2, now=0.0)
    assert b.drop(lambda item: item % 2 == 0) == [1, 3, 5]
    assert b.tokens == 6
    assert b.take() == ([0, 2, 4], 6)

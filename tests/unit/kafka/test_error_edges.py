"""The error edges: KafkaException -> typed errors in one place, and every worker death
reported as one structured line with an exit status per kind (no foreign message in it)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from structlog.testing import capture_logs

from pipeline.kafka.breaker import DeadLetterBreaker
from pipeline.kafka.clients import ProducerClient, mapped
from pipeline.kafka.errors import (
    AbortableError,
    BrokerError,
    CommitError,
    DeadLetterBreakerError,
    FatalBrokerError,
    ProcessingError,
    ProduceTooLargeError,
)
from pipeline.kafka.supervisor import EXIT_BREAKER, EXIT_BUG, EXIT_STAGE_ERROR, report_death
from schemas.codec import JsonCodec
from schemas.errors import MalformedRecordError


@pytest.mark.parametrize(("error", "kwargs", "expected"), [
    (KafkaError(KafkaError._FENCED, fatal=True), {}, FatalBrokerError),
    (KafkaError(KafkaError._TIMED_OUT, txn_requires_abort=True), {}, AbortableError),
    (KafkaError(KafkaError._TIMED_OUT), {"abortable": True}, AbortableError),
    (KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), {}, ProduceTooLargeError),
    (KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), {"kind": CommitError}, CommitError),
    (KafkaError(KafkaError._TRANSPORT), {}, BrokerError),
])
def test_kafka_exceptions_are_mapped_to_typed_errors_with_their_code(error, kwargs, expected):
    with pytest.raises(expected) as info, mapped("doing it", **kwargs):
        raise KafkaException(error)
    assert type(info.value) is expected and info.value.code == error.name()
    assert isinstance(info.value.__cause__, KafkaException)


def test_a_state_error_inside_a_transaction_is_abortable_and_a_full_queue_is_waited_out():
    class Raw:
        calls = 0

        def produce(self, *args, **kwargs):
            Raw.calls += 1
            if Raw.calls == 1:
                raise BufferError("queue full")
            raise KafkaException(KafkaError(KafkaError._STATE))

        def poll(self, timeout):
            pass

    with pytest.raises(AbortableError):
        ProducerClient(Raw(), transactional=True).produce("t", b"v", None)
    assert Raw.calls == 2


@pytest.mark.parametrize(("exc", "status", "error"), [
    (ProcessingError("redaction failed: RuntimeError"), EXIT_STAGE_ERROR, "ProcessingError"),
    (DeadLetterBreakerError("open"), EXIT_BREAKER, "DeadLetterBreakerError"),
    (KeyError("Maria Garcia"), EXIT_BUG, "KeyError"),
])
def test_any_worker_death_is_one_structured_line_without_foreign_messages(exc, status, error):
    try:
        try:
            raise ZeroDivisionError("text of a document: Maria Garcia")
        except ZeroDivisionError as cause:
            raise exc from cause
    except Exception as raised:
        with capture_logs() as logs:
            assert report_death(raised, 0) == status
    (line,) = logs
    assert line["event"] == "kafka.worker_failed" and line["error"] == error and line["exit_status"] == status
    assert line["cause"] == "ZeroDivisionError" and "test_error_edges.py" in line["where"]
    assert "Maria" not in repr(line)


def test_breaker_share_is_over_the_whole_window():
    breaker = DeadLetterBreaker(0.5, 10)
    assert breaker.first_trip([True] * 5) is None  # 5 of 10: not more than half
    assert breaker.first_trip([True] * 6) == 5
    for _ in range(20):
        breaker.record(False)
    assert breaker.share == 0 and breaker.first_trip([True, False] * 5 + [True]) is None
    with pytest.raises(DeadLetterBreakerError):
        for _ in range(6):
            breaker.record(True)
        breaker.check()


def test_deep_nesting_is_a_malformed_record_not_a_crash():
    with pytest.raises(MalformedRecordError, match="nested too deeply"):
        JsonCodec().decode(b"[" * 100_000 + b"]" * 100_000, "document", "t")
